"""Insight on unified customers [客户洞察]: the tag catalogue and source-tag resolution.

Built on the customer business-layer total domain through the batch-engine port: tags as
data with inherited grades (:mod:`.catalogue`), source tags resolved to one value per
customer with provenance (:mod:`.source_tags`). Segments, profiles, mining, membership
history and the CLI/API/console are not built yet (issue 17).
"""

from custodata.insight.catalogue import Catalogue, Grade, Tag, load_catalogue
from custodata.insight.records import build_records
from custodata.insight.source_tags import build_tag_values

__all__ = ["Catalogue", "Grade", "Tag", "build_records", "build_tag_values", "load_catalogue"]
