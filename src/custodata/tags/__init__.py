"""Tags and segments computed on the customer business-layer total domain."""

from custodata.tags.rules import TagRules, load_rules, tags_sql

__all__ = ["TagRules", "load_rules", "tags_sql"]
