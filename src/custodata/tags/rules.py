"""Tag and segment rules as data: a name and a SQL condition over customer aggregates."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from custodata.errors import ConfigError


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    when: str = Field(min_length=1)


class TagRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tags: list[Rule] = Field(default_factory=list)
    segments: list[Rule] = Field(default_factory=list)


def default_rules_path() -> Path:
    return Path(__file__).parent / "rules.yaml"


def load_rules(path: Path | None = None) -> TagRules:
    path = path or default_rules_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return TagRules.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read tag rules: {exc}") from None
    except ValidationError as exc:
        raise ConfigError("\n".join(
            f"{path}: key '{'.'.join(str(p) for p in e['loc'])}': {e['msg']}" for e in exc.errors()
        )) from None


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def tags_sql(rules: TagRules) -> tuple[str, str]:
    """SQL expressions (computed tag list, segment) over an aggregates row."""
    tags = "list_filter([" + ", ".join(
        f"CASE WHEN ({r.when}) THEN {_lit(r.name)} END" for r in rules.tags
    ) + "], t -> t IS NOT NULL)" if rules.tags else "CAST([] AS VARCHAR[])"
    segment = "CASE " + " ".join(f"WHEN ({r.when}) THEN {_lit(r.name)}" for r in rules.segments) + " END" \
        if rules.segments else "NULL"
    return tags, segment
