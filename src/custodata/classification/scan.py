"""The classification and grading scan [分类分级扫描]: which columns of a table are sensitive.

For every column the scan samples values and asks each recogniser how many of
them it validates.  Content decides: a column named ``c07`` full of valid USCCs
is found, an ``id_no`` column of 18-digit numbers that fail the check character
is not an ID column.  The column's name only lowers the bar (``hint_threshold``
instead of ``threshold``) and is required where content alone is ambiguous
(birth dates, amounts).  A column of free text is sensitive when its texts embed
identifiers (a mobile in a service ticket's remark); its level is the highest of
what it embeds.  Category and level always come from the grading table, and
every finding says why, with masked evidence — never a plaintext value.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from custodata.classification.config import ClassificationConfig, ScanSettings, load_config
from custodata.classification.grading import Grading, load_grading
from custodata.classification.recognisers import Recogniser, Registry, default_registry, prepare
from custodata.classification.sampling import sample_table
from custodata.errors import ConfigError

_TEXTUAL = re.compile(r"[\u3400-\u9fff]|[A-Za-z]{2,}\s+[A-Za-z]{2,}")
FREE_TEXT = "free_text"
FREE_TEXT_RECOGNISER = "free_text_spans"
# The formats of custodata.crypto.envelope (cd1:<key id>:<sealed>, tk1:<digest>), matched here
# rather than imported so a scan never loads the cryptography stack; a test pins them together.
CIPHERTEXT_PREFIX = "cd1:"
TOKEN_PREFIX = "tk1:"  # noqa: S105  (a format marker, not a secret)


@dataclass(frozen=True)
class ColumnFinding:
    """What the scan concluded about one column, and why."""

    column: str
    sql_type: str
    sampled: int  # non-blank values looked at
    type: str | None
    label: str | None
    category: str | None
    level: int | None
    confidence: float
    recogniser: str | None
    valid_share: float  # share of sampled values the recogniser validated (free text: that embed a value)
    name_hints: tuple[str, ...]
    evidence: tuple[str, ...]  # masked
    explanation: str
    embedded: dict[str, int] = field(default_factory=dict)  # free text: type -> values found

    @property
    def sensitive(self) -> bool:
        return self.type is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["name_hints"] = list(self.name_hints)
        d["evidence"] = list(self.evidence)
        return d


@dataclass(frozen=True)
class ScanReport:
    """A scan of one table: JSON-able, and what the catalogue records."""

    source: str
    kind: str
    rows_total: int | None
    rows_sampled: int
    sample: int
    threshold: float
    hint_threshold: float
    scanned_at: str  # ISO 8601, UTC
    seconds: float
    columns: tuple[ColumnFinding, ...]

    def sensitive(self) -> tuple[ColumnFinding, ...]:
        return tuple(c for c in self.columns if c.sensitive)

    def column(self, name: str) -> ColumnFinding:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["columns"] = [c.to_dict() for c in self.columns]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class _Candidate:
    recogniser: Recogniser
    valid: list[str]
    share: float
    confidence: float
    hinted: bool
    note: str


def _validated(recogniser: Recogniser, values: Sequence[str], need: float) -> list[str] | None:
    """The values a recogniser validates, or None as soon as ``need`` is out of reach.

    Stopping early keeps a wide table cheap: most recognisers fail most columns,
    and after ``(1 - need) * n`` failures the answer cannot change.
    """
    allowed = len(values) - math.ceil(need * len(values) - 1e-9)
    failures = 0
    valid = []
    validate = recogniser.validate
    for v in values:
        if validate(v):
            valid.append(v)
        else:
            failures += 1
            if failures > allowed:
                return None
    return valid


def _evidence(recogniser: Recogniser, valid: Sequence[str], n: int = 3) -> tuple[str, ...]:
    shown: dict[str, None] = {}
    for v in dict.fromkeys(valid):
        shown[recogniser.mask(v)] = None
        if len(shown) == n:
            break
    return tuple(shown)


def _free_text(values: Sequence[str], registry: Registry, settings: ScanSettings, hinted: bool
               ) -> tuple[int, Counter[str], list[tuple[str, float, str]]] | None:
    """(values embedding identifiers, spans per type, (type, score, masked) examples) for a text column."""
    mean_length = sum(map(len, values)) / len(values)
    textual = sum(_TEXTUAL.search(v) is not None for v in values) / len(values)
    if mean_length < settings.free_text_min_length or (textual < 0.5 and not hinted):
        return None
    with_spans = 0
    types: Counter[str] = Counter()
    examples: list[tuple[str, float, str]] = []
    for v in values:
        spans = registry.find_all(v)
        if not spans:
            continue
        with_spans += 1
        for s in spans:
            types[s.type] += 1
            if len(examples) < 3:
                found = v[s.start:s.end]
                examples.append((s.type, s.score, registry.get(s.recogniser).mask(found)))
    return with_spans, types, examples


def _protected(column: str, values: Sequence[str], hints: frozenset[str], settings: ScanSettings,
               grading: Grading) -> tuple[str | None, str, float, str] | None:
    """(type, recogniser, share, why) for a column of custodata ciphertexts or tokens, else None.

    Encrypted content cannot be validated, yet it is the most sensitive there is:
    the type comes from the canonical field name of custodata's domains
    (``id_number``, ``mobile_token``), else from the column-name hints.
    """
    ciphertexts = sum(v.startswith(CIPHERTEXT_PREFIX) for v in values)
    tokens = sum(v.startswith(TOKEN_PREFIX) for v in values)
    share = (ciphertexts + tokens) / len(values)
    if share < settings.threshold:
        return None
    kind, recogniser = (("ciphertexts", "custodata_ciphertext") if ciphertexts >= tokens
                        else ("keyed tokens", "custodata_token"))
    field = column.removesuffix("_token")
    type_ = grading.field_type(field)
    if type_ is not None:
        source = f"the canonical field '{field}'"
    elif hints:
        type_ = max(sorted(hints), key=lambda t: grading.grade(t).level)
        source = "the column name"
    else:
        return None, recogniser, share, (f"{share:.0%} of values are custodata {kind}: sensitive, but the name "
                                         "does not say of what type; set it with `custodata catalogue override`")
    why = f"{share:.0%} of values are custodata {kind} (protected at rest); type from {source}"
    if kind == "keyed tokens":
        why += "; a token stands for the value it replaces and links records, so it keeps that grade"
    return type_, recogniser, share, why


def scan_values(column: str, values: Sequence[str | None], *, sql_type: str = "",
                settings: ScanSettings | None = None, config: ClassificationConfig | None = None,
                registry: Registry | None = None, grading: Grading | None = None) -> ColumnFinding:
    """Classify one column from its (sampled) values; the name only hints."""
    config = config or load_config()
    settings = settings or config.scan
    registry = registry or default_registry()
    grading = grading or load_grading()
    hints = config.hinted_types(column)
    if (canonical := grading.field_type(column.removesuffix("_token"))) is not None:
        hints |= {canonical}  # custodata's own tables name columns by canonical field
    prepared = [p for v in values if v is not None and (p := prepare(v))]
    n = len(prepared)

    def finding(type_: str | None, confidence: float, recogniser: str | None, share: float,
                evidence: tuple[str, ...], explanation: str, embedded: dict[str, int] | None = None,
                level: int | None = None, category: str | None = None) -> ColumnFinding:
        grade = grading.grade(type_) if type_ else None
        return ColumnFinding(
            column=column, sql_type=sql_type, sampled=n, type=type_, label=grade.label if grade else None,
            category=category or (grade.category if grade else None), level=level or (grade.level if grade else None),
            confidence=round(confidence, 3), recogniser=recogniser, valid_share=round(share, 3),
            name_hints=tuple(sorted(hints)), evidence=evidence, explanation=explanation, embedded=embedded or {},
        )

    if n == 0:
        return finding(None, 0.0, None, 0.0, (), "no non-blank values in the sample")

    protected = _protected(column, prepared, hints, settings, grading)
    if protected is not None:
        type_, recogniser_name, share, why = protected
        evidence = tuple(dict.fromkeys(v[:4] + "*" * 8 for v in prepared[:3]))
        return finding(type_, share * 0.9 if type_ else 0.0, recogniser_name, share, evidence, why)

    candidates: list[_Candidate] = []
    notes: list[str] = []
    for recogniser in registry:
        hinted = recogniser.type in hints
        if recogniser.requires_hint and not hinted:
            continue
        need = settings.hint_threshold if hinted else settings.threshold
        valid = _validated(recogniser, prepared, need)
        if valid is None:
            if hinted:
                notes.append(f"name suggests {recogniser.type}, but fewer than {need:.0%} of values pass "
                             f"{recogniser.name}")
            continue
        accepted, note = recogniser.accept_column(valid, prepared, hinted)
        if not accepted:
            notes.append(f"{recogniser.name}: {note}")
            continue
        share = len(valid) / n
        confidence = min(1.0, share * recogniser.score + (0.1 if hinted else 0.0))
        candidates.append(_Candidate(recogniser, valid, share, confidence, hinted, note))

    if candidates:
        best = max(candidates, key=lambda c: c.confidence)  # max keeps the first (registry order) on a tie
        r = best.recogniser
        why = f"{len(best.valid)} of {n} sampled values ({best.share:.0%}) validate: {r.reason}"
        if best.note:
            why += f"; {best.note}"
        if best.hinted:
            why += "; the column name agrees"
        others = [f"{c.recogniser.name} ({c.recogniser.type}) {c.share:.0%}" for c in candidates if c is not best]
        if others:
            why += f"; also matched: {', '.join(others)}"
        return finding(r.type, best.confidence, r.name, best.share, _evidence(r, best.valid), why)

    text_hinted = FREE_TEXT in hints
    scanned = _free_text(prepared, registry, settings, text_hinted)
    if scanned is not None:
        with_spans, types, examples = scanned
        share = with_spans / n
        if share >= settings.free_text_min_share or text_hinted:
            base = grading.grade(FREE_TEXT)
            grades = [base, *(grading.grade(t) for t in types)]
            level = max(g.level for g in grades)
            category = max(g.category for g in grades)
            evidence = tuple(f"{t}: {masked}" for t, _, masked in examples)
            if types:
                found = ", ".join(f"{t} ×{k}" for t, k in types.most_common())
                confidence = sum(score for _, score, _ in examples) / len(examples)
                why = (f"free text: {with_spans} of {n} sampled texts ({share:.0%}) embed identifiers ({found}); "
                       f"level is the highest of free text and what it embeds")
            else:
                confidence = 0.5
                why = ("free text named as remarks: no identifier found in the sample, graded as free text "
                       "because remarks may hold personal information")
            return finding(FREE_TEXT, confidence, FREE_TEXT_RECOGNISER, share, evidence, why,
                           embedded=dict(types), level=level, category=category)
        if with_spans:
            notes.insert(0, f"free text, but only {with_spans} of {n} texts embed identifiers")

    why = f"no recogniser validates {settings.threshold:.0%} of {n} sampled values"
    if notes:
        why += "; " + "; ".join(notes)
    return finding(None, 0.0, None, 0.0, (), why)


def scan_table(source: str | Path, *, table: str | None = None, settings: ScanSettings | None = None,
               sample: int | None = None, threshold: float | None = None, config_path: Path | None = None,
               grading: Grading | None = None) -> ScanReport:
    """Scan a CSV / JSON lines / Parquet file, a ``.duckdb`` store's table or a SQLAlchemy URL's table.

    ``settings`` default to ``recognisers.yaml``'s ``scan`` block; ``sample``
    and ``threshold`` override single values of it.
    """
    config = load_config(config_path)
    settings = settings or config.scan
    if sample is not None and sample < 1:
        raise ConfigError(f"sample must be at least 1 value per column, not {sample}")
    if threshold is not None and not 0 < threshold <= 1:
        raise ConfigError(f"threshold must be a share in (0, 1], not {threshold}")
    updates: dict[str, Any] = {}
    if sample is not None:
        updates["sample"] = sample
        updates["rows"] = max(settings.rows, sample * 10)
    if threshold is not None:
        updates["threshold"] = threshold
    if updates:
        settings = ScanSettings.model_validate({**settings.model_dump(), **updates})
    registry = default_registry(config_path)
    grading = grading or load_grading()
    started = time.perf_counter()
    scanned_at = dt.datetime.now(dt.UTC)
    table_sample = sample_table(source, table, rows=settings.rows, per_column=settings.sample, seed=settings.seed)
    columns = tuple(
        scan_values(c.name, c.values, sql_type=c.sql_type, settings=settings, config=config, registry=registry,
                    grading=grading)
        for c in table_sample.columns
    )
    return ScanReport(
        source=table_sample.source, kind=table_sample.kind, rows_total=table_sample.rows_total,
        rows_sampled=table_sample.rows_sampled, sample=settings.sample, threshold=settings.threshold,
        hint_threshold=settings.hint_threshold, scanned_at=scanned_at.isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - started, 3), columns=columns,
    )

