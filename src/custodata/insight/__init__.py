"""Insight on unified customers [客户洞察]: the tag catalogue, source-tag resolution and segments.

Built on the customer business-layer total domain through the batch-engine port. What is
here: tags as data with inherited grades (:mod:`.catalogue`), source tags resolved to one
value per customer with provenance (:mod:`.source_tags`), segments and rule tags as
declarative trees (:mod:`.segments`) compiled to parameterised SQL (:mod:`.segment_sql`)
and previewed by counts (:mod:`.preview`). Profiles, mining, membership history and the
CLI/API/console are not built yet (issue 17).
"""

from custodata.insight.catalogue import Catalogue, Grade, Tag, load_catalogue
from custodata.insight.preview import Preview, preview
from custodata.insight.records import build_records
from custodata.insight.segment_sql import Compiler, Relations, count, materialise
from custodata.insight.segments import Segments, load_segments, parse_segments
from custodata.insight.source_tags import build_tag_values

__all__ = [
    "Catalogue", "Compiler", "Grade", "Preview", "Relations", "Segments", "Tag", "build_records",
    "build_tag_values", "count", "load_catalogue", "load_segments", "materialise", "parse_segments", "preview",
]
