"""Generic deduplication of any CSV of people, Chinese or not.

A small mapping YAML says which CSV column holds which canonical field::

    fields:
      rec_id: record_id
      given_name: given_name
      surname: family_name
      date_of_birth: birth_date
      soc_sec_id: id_number
      postcode: postcode
    date_formats: ["%Y%m%d"]
    csv: {delimiter: ",", encoding: utf-8}

Values go through the same normalisers as the pipeline (pinyin keys for names,
PRC IDs, mobiles, dates, e-mails); values those reject but that are still data
(a foreign ID, a non-PRC phone) pass on as cleaned text.  Splink compares only
the mapped fields, blocks on combinations of them that keep the number of
comparisons near-linear, learns its model without labels and clusters the
pairs at the threshold.  The output is ``record_id,cluster_id``.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from custodata import normalise as nz
from custodata.engine import memory_engine
from custodata.engine.port import ArrowFunction, BatchEngine
from custodata.errors import ConfigError, MappingError, SourceError
from custodata.sources.mapping import CsvOptions, _suggest
from custodata.yamlconfig import read_yaml, validate

log = logging.getLogger(__name__)

# Canonical fields a dedupe mapping may assign CSV columns to.
DEDUPE_FIELDS: tuple[str, ...] = (
    "record_id",
    "full_name",
    "given_name",
    "family_name",
    "id_number",
    "birth_date",
    "gender",
    "mobile",
    "email",
    "address",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "city",
    "state",
    "province",
    "postcode",
)
_IDENTIFYING = ("full_name", "given_name", "family_name", "id_number", "mobile", "email")
_SYNONYMS = (("suburb", "city"), ("state", "province"))

INPUT = "dd_input"
_RAW = "dd_raw"
_BATCH_ROWS = 50_000
# Random pairs for the u probabilities (Splink's default): a fixed cost whatever the size.
U_SAMPLING_PAIRS = 1e6
# Pairs sampled for each EM session, so a broad training block stays cheap on big files.
EM_MAX_PAIRS = 2e6


class DedupeMapping(BaseModel):
    """Which CSV column is which canonical field, and how to read the CSV."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, str] = Field(description="CSV column -> canonical field")
    date_formats: list[str] = Field(default_factory=list)
    csv: CsvOptions = CsvOptions()

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for column, canonical in value.items():
            if canonical not in DEDUPE_FIELDS:
                raise ValueError(f"column '{column}': {_suggest(canonical, DEDUPE_FIELDS)}")
        mapped = list(value.values())
        dup = sorted({c for c in mapped if mapped.count(c) > 1})
        if dup:
            raise ValueError(f"canonical field(s) {dup} mapped twice; map each field once")
        if "record_id" not in mapped:
            raise ValueError("no column is mapped to 'record_id'; map the column that "
                             "identifies each row (e.g. rec_id: record_id)")
        if not set(_IDENTIFYING) & set(mapped):
            raise ValueError(f"map at least one identifying field: {', '.join(_IDENTIFYING)}")
        if "full_name" in mapped and {"given_name", "family_name"} & set(mapped):
            raise ValueError("map either 'full_name' or 'given_name'/'family_name', not both")
        for a, b in _SYNONYMS:
            if a in mapped and b in mapped:
                raise ValueError(f"'{a}' and '{b}' mean the same here; map only one of them")
        return value

    @model_validator(mode="after")
    def _formats(self) -> DedupeMapping:
        for fmt in self.date_formats:
            if "%" not in fmt:
                raise ValueError(f"date format '{fmt}' has no % directive; use e.g. '%Y%m%d'")
        return self

    def column_of(self, canonical: str) -> str | None:
        for column, name in self.fields.items():
            if name == canonical:
                return column
        return None

    @property
    def canonical(self) -> frozenset[str]:
        return frozenset(self.fields.values())


def parse_dedupe_mapping(data: Any, origin: str) -> DedupeMapping:
    """Validate dedupe mapping data; ``origin`` names the file in error messages."""
    return validate(DedupeMapping, data, origin, MappingError)


def load_dedupe_mapping(path: Path) -> DedupeMapping:
    """Load and validate a dedupe mapping YAML file."""
    return parse_dedupe_mapping(read_yaml(path, "mapping file", MappingError), str(path))


@dataclass(frozen=True)
class DedupeResult:
    records: int
    clusters: int
    pairs: int  # scored pairs at or above the threshold
    out: Path
    blocking_rules: tuple[str, ...]
    skipped_rules: tuple[str, ...] = ()
    stage_seconds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


# ---------------------------------------------------------------- reading ---


def _read_rows(path: Path, mapping: DedupeMapping, origin: str) -> Iterator[dict[str, str | None]]:
    opts = mapping.csv
    try:
        fh = path.open(encoding=opts.encoding, newline="")
    except FileNotFoundError:
        raise SourceError(f"{path}: CSV file not found") from None
    except LookupError:
        raise MappingError(f"{origin}: key 'csv.encoding': unknown encoding '{opts.encoding}' "
                           "(use e.g. utf-8, gb18030, gbk)") from None
    with fh:
        reader = csv.reader(fh, delimiter=opts.delimiter, quotechar=opts.quote)
        try:
            header = next(reader) if opts.header else None
        except StopIteration:
            raise SourceError(f"{path}: the CSV is empty") from None
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not readable as {opts.encoding}: {exc.reason}") from None
        if header is not None:
            header = [h.strip().lstrip("\ufeff") for h in header]
            missing = [c for c in mapping.fields if c not in header]
            if missing:
                raise MappingError(
                    f"{origin}: key 'fields.{missing[0]}': column '{missing[0]}' is not in {path}; "
                    f"its columns are: {', '.join(header)}"
                )
            index = {c: header.index(c) for c in mapping.fields}
        else:
            index = {}
            for c in mapping.fields:
                if not (c.startswith("column") and c[6:].isdigit() and int(c[6:]) >= 1):
                    raise MappingError(f"{origin}: key 'fields.{c}': a CSV without header names "
                                       "its columns column1, column2, ...")
                index[c] = int(c[6:]) - 1
        try:
            for row in reader:
                if not row:
                    continue
                yield {c: (row[i] if i < len(row) and row[i] != "" else None)
                       for c, i in index.items()}
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not readable as {opts.encoding}: {exc.reason}") from None
        except csv.Error as exc:
            raise SourceError(f"{path}: line {reader.line_num}: {exc}") from None


def _land(db: BatchEngine, path: Path, mapping: DedupeMapping, origin: str) -> int:
    """Read the mapped columns (as text, named by their canonical field) into ``dd_raw``."""
    names = list(mapping.fields.values())
    cols_sql = ", ".join(f'"{n}" VARCHAR' for n in names)
    db.execute(f"CREATE OR REPLACE TABLE {_RAW} (_row BIGINT, {cols_sql})")
    batch: dict[str, list[str | None]] = {c: [] for c in mapping.fields}
    rows: list[int] = []
    n = 0

    def flush() -> None:
        arrow = pa.table({"_row": pa.array(rows, pa.int64()),
                          **{mapping.fields[c]: pa.array(v, pa.string()) for c, v in batch.items()}})
        db.put_arrow("_dd_batch", arrow)
        db.execute(f"INSERT INTO {_RAW} SELECT * FROM _dd_batch")
        db.drop_arrow("_dd_batch")
        rows.clear()
        for v in batch.values():
            v.clear()

    for record in _read_rows(path, mapping, origin):
        n += 1
        rows.append(n)
        for c, v in record.items():
            batch[c].append(v)
        if len(rows) >= _BATCH_ROWS:
            flush()
    if rows:
        flush()
    if n == 0:
        raise SourceError(f"{path}: the CSV has no data rows")
    _check_ids(db, path, mapping)
    return n


def _check_ids(db: BatchEngine, path: Path, mapping: DedupeMapping) -> None:
    col = mapping.column_of("record_id")
    blank = db.one(f"SELECT min(_row) FROM {_RAW} WHERE trim(coalesce(record_id, '')) = ''"
                        )
    if blank and blank[0] is not None:
        raise SourceError(f"{path}: data row {blank[0]} has no value in '{col}' (record_id); "
                          "every row needs a unique record id")
    dup = db.one(f"SELECT record_id, count(*) FROM {_RAW} GROUP BY record_id "
                      "HAVING count(*) > 1 ORDER BY 2 DESC, 1 LIMIT 1")
    if dup:
        raise SourceError(f"{path}: record id '{dup[0]}' (column '{col}') occurs {dup[1]} times; "
                          "record ids must be unique")


# ------------------------------------------------------------ normalising ---
#
# One total Python function per field, registered as a DuckDB function: the
# fall-backs live here rather than in SQL CASE/COALESCE, which would hand the
# Python functions only part of a vector.

_NAME_FIELDS = ("full_name", "given_name", "family_name")
_ADDRESS_PARTS = ("address", "street_number", "address_1", "address_2")
_NON_DIGIT = re.compile(r"[^0-9]")
_ID_SEPARATORS = re.compile(r"[\s\-]")
_SPACE = re.compile(r"\s")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _text_value(raw: str) -> str | None:
    """Cleaned, lower-cased text; placeholders (无, n/a, ---) are unknown."""
    if nz.is_placeholder(raw):
        return None
    cleaned = nz.clean_text(raw)
    return cleaned.lower() if cleaned else None


def id_value(raw: str) -> str | None:
    """A valid PRC ID in canonical form; any other ID (foreign, mistyped) as compact text."""
    prc = nz.normalise_id(raw)
    if prc is not None:
        return prc
    if nz.is_placeholder(raw):
        return None
    return _ID_SEPARATORS.sub("", nz.clean_text(raw) or "").upper() or None


def birth_value(raw: str, formats: tuple[str, ...] = ()) -> str | None:
    """``YYYYMMDD``; an impossible date (a typo such as 19650231) keeps its eight digits."""
    parsed, _ = nz.parse_date(raw, formats)
    if parsed is not None:
        return parsed.strftime("%Y%m%d")
    if nz.is_placeholder(raw):
        return None
    digits = _NON_DIGIT.sub("", nz.clean_text(raw) or "")
    return digits if len(digits) == 8 else None


def mobile_value(raw: str) -> str | None:
    """A mainland mobile's 11 digits; any other phone number as its digits."""
    mobile = nz.normalise_mobile(raw)
    if mobile is not None:
        return mobile
    digits = _NON_DIGIT.sub("", nz.clean_text(raw) or "")
    return digits if len(digits) >= 6 and not nz.is_placeholder(digits) else None


def address_value(raw: str) -> str | None:
    """Chinese addresses in the gazetteer's standard form, others as cleaned text."""
    text = _text_value(raw)
    if text is None or not _HAN.search(text):
        return text
    split = nz.split_address(text)
    return split.full if split is not None and split.full else text


def postcode_value(raw: str) -> str | None:
    if nz.is_placeholder(raw):
        return None
    return _SPACE.sub("", nz.clean_text(raw) or "").upper() or None


def _vectorised(fn: Callable[[str], str | None]) -> Callable[[pa.Array], pa.Array]:
    def run(values: pa.Array) -> pa.Array:
        return pa.array([None if v is None else fn(v) for v in values.to_pylist()], pa.string())

    return run


def _register(db: BatchEngine, date_formats: tuple[str, ...]) -> None:
    functions: dict[str, Callable[[str], str | None]] = {
        "dd_text": _text_value, "dd_id": id_value, "dd_mobile": mobile_value,
        "dd_address": address_value, "dd_postcode": postcode_value,
        "dd_birth": lambda v: birth_value(v, date_formats),
        "dd_name": nz.normalise_name, "dd_name_key": nz.name_pinyin,
        "dd_gender": nz.normalise_gender, "dd_email": nz.normalise_email,
    }
    db.register([ArrowFunction(name, _vectorised(fn), (pa.string(),), pa.string())
                 for name, fn in functions.items()], replace=True)


def _input_sql(mapping: DedupeMapping) -> tuple[str, list[str]]:
    """SQL building ``dd_input`` from ``dd_raw``, and the comparison columns it has."""
    have = mapping.canonical
    select = ["record_id"]
    columns: list[str] = []
    for name in _NAME_FIELDS:
        if name in have:
            select += [f"dd_name({name}) AS {name}", f"dd_name_key({name}) AS {name}_key"]
            columns.append(name)
    for name, fn in (("id_number", "dd_id"), ("birth_date", "dd_birth"), ("gender", "dd_gender"),
                     ("mobile", "dd_mobile"), ("email", "dd_email")):
        if name in have:
            select.append(f"{fn}({name}) AS {name}")
            columns.append(name)
    parts = [p for p in _ADDRESS_PARTS if p in have]
    if parts:
        select.append(f"dd_address(concat_ws(' ', {', '.join(f'dd_text({p})' for p in parts)})) "
                      "AS address")
        columns.append("address")
    for (a, b), target in zip(_SYNONYMS, ("locality", "region"), strict=True):
        src = a if a in have else b if b in have else None
        if src:
            select.append(f"dd_text({src}) AS {target}")
            columns.append(target)
    if "postcode" in have:
        select.append("dd_postcode(postcode) AS postcode")
        columns.append("postcode")
    sql = f"CREATE OR REPLACE TABLE {INPUT} AS SELECT {', '.join(select)} FROM {_RAW} ORDER BY _row"
    return sql, columns


# ---------------------------------------------------------------- model ---


def _comparisons(columns: list[str]) -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    out: list[Any] = []
    for name in _NAME_FIELDS:
        if name not in columns:
            continue
        key = f"{name}_key"
        levels: list[Any] = [
            cll.NullLevel(key),
            cll.ExactMatchLevel(name, term_frequency_adjustments=True),
            cll.ExactMatchLevel(key).configure(label_for_charts=f"same pinyin/letters of {name}"),
        ]
        if name == "given_name" and "family_name" in columns:
            levels.append(cll.CustomLevel(
                "given_name_key_l = family_name_key_r AND family_name_key_l = given_name_key_r",
                label_for_charts="given and family name swapped"))
        levels += [cll.JaroWinklerLevel(key, 0.92), cll.JaroWinklerLevel(key, 0.8), cll.ElseLevel()]
        out.append(cl.CustomComparison(comparison_levels=levels, output_column_name=name))
    if "id_number" in columns:
        out.append(cl.LevenshteinAtThresholds("id_number", [1, 2]))
    if "birth_date" in columns:
        out.append(cl.CustomComparison(output_column_name="birth_date", comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.DamerauLevenshteinLevel("birth_date", 1),
            cll.CustomLevel(
                "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4) AND "
                "substr(birth_date_l, 5, 2) = substr(birth_date_r, 7, 2) AND "
                "substr(birth_date_l, 7, 2) = substr(birth_date_r, 5, 2)",
                label_for_charts="day and month swapped"),
            cll.ElseLevel(),
        ]))
    if "gender" in columns:
        out.append(cl.ExactMatch("gender"))
    if "mobile" in columns:
        out.append(cl.LevenshteinAtThresholds("mobile", [1]))
    if "email" in columns:
        out.append(cl.JaroWinklerAtThresholds("email", [0.9]))
    if "address" in columns:
        out.append(cl.JaroWinklerAtThresholds("address", [0.95, 0.88, 0.7]))
    if "locality" in columns:
        out.append(cl.JaroWinklerAtThresholds("locality", [0.92]))
    if "region" in columns:
        out.append(cl.ExactMatch("region"))
    if "postcode" in columns:
        out.append(cl.ExactMatch("postcode"))
    return out


def _name_keys(columns: list[str]) -> list[tuple[str, ...]]:
    """Name blocking keys, strongest first."""
    keys: list[tuple[str, ...]] = []
    if "full_name" in columns:
        keys.append(("full_name_key",))
    if "given_name" in columns and "family_name" in columns:
        keys.append(("given_name_key", "family_name_key"))
    return keys


def _candidate_rules(columns: list[str]) -> list[tuple[str, ...]]:
    """Blocking keys from the mapped fields: identifiers alone, names with a detail."""
    have = set(columns)
    rules: list[tuple[str, ...]] = [(c,) for c in ("id_number", "mobile", "email") if c in have]
    name_keys = _name_keys(columns)
    rules += name_keys
    details = [c for c in ("birth_date", "postcode", "locality", "address") if c in have]
    singles = [k for k in name_keys if len(k) == 1]
    singles += [(f"{n}_key",) for n in ("family_name", "given_name") if n in have]
    for name in singles:
        rules += [(*name, d) for d in details]
    for i, a in enumerate(details):
        rules += [(a, b) for b in details[i + 1:]]
    return list(dict.fromkeys(rules))


def _pairs_for(db: BatchEngine, key: tuple[str, ...]) -> int:
    """Comparisons an equi-join on ``key`` generates: sum of C(n, 2) over its groups."""
    not_null = " AND ".join(f"{k} IS NOT NULL" for k in key)
    row = db.one(
        f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n FROM {INPUT} "
        f"WHERE {not_null} GROUP BY {', '.join(key)})"
    )
    return int(row[0]) if row else 0


def _rule_sql(key: tuple[str, ...]) -> str:
    return " AND ".join(f"l.{k} = r.{k}" for k in key)


def _deterministic_rules(columns: list[str]) -> list[str]:
    """Rules that almost only true duplicates satisfy, to estimate how many there are."""
    have = set(columns)
    names = _name_keys(columns)
    rules: list[tuple[str, ...]] = []
    if "birth_date" in have:
        rules += [(*key, "birth_date") for key in names]
    for ident in ("id_number", "mobile", "email"):
        if ident in have:
            rules.append((ident, "birth_date") if "birth_date" in have
                         else (ident, *names[0]) if names else (ident,))
    if not rules and names:
        extra = [c for c in ("address", "postcode", "locality") if c in have]
        rules.append((*names[0], *extra[:1]))
    if not rules:  # only single name parts are mapped
        rules.append(tuple(f"{n}_key" for n in ("family_name", "given_name") if n in have))
    return [_rule_sql(r) for r in rules]


def _em_rules(columns: list[str]) -> list[str]:
    """Two or three training blocks; each leaves the fields it does not block on to learn."""
    have = set(columns)
    rules: list[str] = []
    if "birth_date" in have:
        rules.append(_rule_sql(("birth_date",)))
    names = _name_keys(columns)
    if names:
        rules.append(_rule_sql(names[0]))
    for alt in ("postcode", "id_number", "mobile", "email", "locality"):
        if len(rules) >= 3:
            break
        if alt in have:
            rules.append(_rule_sql((alt,)))
    return rules[:3]


@dataclass
class _Model:
    linker: Any
    rules: list[str]
    skipped: list[str]


def _train(db: BatchEngine, columns: list[str], records: int, seed: int,
           max_pairs_per_record: float) -> _Model:
    from splink import Linker, SettingsCreator

    budget = max(100_000, int(max_pairs_per_record * records))
    rules: list[str] = []
    skipped: list[str] = []
    for key in _candidate_rules(columns):
        pairs = _pairs_for(db, key)
        (rules if pairs <= budget else skipped).append(_rule_sql(key))
        if pairs > budget:
            log.warning("dedupe: blocking on %s would compare %s pairs (budget %s); skipped",
                        "+".join(key), pairs, budget)
    if not rules:
        raise SourceError("no blocking rule keeps the number of comparisons near-linear; "
                          "map more fields (e.g. birth_date, postcode) to narrow the blocks")
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=_comparisons(columns),
        blocking_rules_to_generate_predictions=[
            {"blocking_rule": r, "sql_dialect": "duckdb"} for r in rules],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db_api = db.splink_api()
    linker = Linker(db_api.register(INPUT), settings, log_level=logging.WARNING)
    training = linker.training
    try:
        deterministic: list[Any] = list(_deterministic_rules(columns))
        training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    except Exception as exc:  # no deterministic match at all: keep Splink's prior
        log.warning("dedupe: could not estimate the match prior (%s); using the default", exc)
    training.estimate_u_using_random_sampling(max_pairs=U_SAMPLING_PAIRS, seed=seed)
    for rule in _em_rules(columns):
        training.estimate_parameters_using_expectation_maximisation(
            rule, fix_probability_two_random_records_match=True, max_pairs=EM_MAX_PAIRS,
            estimate_without_term_frequencies=True)
    return _Model(linker, rules, skipped)


# ------------------------------------------------------------------ entry ---


def _copy_to_csv(db: BatchEngine, sql: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    db.write_csv(sql, str(tmp))
    os.replace(tmp, out)


def dedupe_csv(
    input_csv: Path, mapping_yaml: Path, out_csv: Path, *, threshold: float = 0.9,
    seed: int = 42, max_pairs_per_record: float = 50.0, threads: int | None = None,
) -> DedupeResult:
    """Deduplicate ``input_csv`` as mapped by ``mapping_yaml``; write ``record_id,cluster_id``.

    Two records share a cluster when a chain of pairs scored at or above
    ``threshold`` joins them.  A blocking rule that would compare more than
    ``max_pairs_per_record`` pairs per record (a common name alone, a shared
    placeholder) is skipped and reported in the result.
    """
    if not 0 < threshold < 1:
        raise ConfigError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
    input_csv, mapping_yaml, out_csv = Path(input_csv), Path(mapping_yaml), Path(out_csv)
    mapping = load_dedupe_mapping(mapping_yaml)
    return dedupe_mapped(input_csv, mapping, out_csv, threshold=threshold, seed=seed,
                         max_pairs_per_record=max_pairs_per_record, threads=threads,
                         origin=str(mapping_yaml))


def dedupe_mapped(
    input_csv: Path, mapping: DedupeMapping, out_csv: Path, *, threshold: float = 0.9,
    seed: int = 42, max_pairs_per_record: float = 50.0, threads: int | None = None,
    origin: str = "mapping",
) -> DedupeResult:
    """:func:`dedupe_csv` with an already validated mapping."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    db = memory_engine(threads=threads)
    try:
        _register(db, tuple(mapping.date_formats))
        records = _land(db, input_csv, mapping, origin)
        seconds["read"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        sql, columns = _input_sql(mapping)
        db.execute(sql)
        seconds["normalise"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        model = _train(db, columns, records, seed, max_pairs_per_record)
        seconds["train"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        linker = model.linker
        pairs_df = linker.inference.predict(threshold_match_probability=threshold)
        pairs = db.one(f"SELECT count(*) FROM {pairs_df.physical_name}")
        seconds["predict"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            pairs_df, threshold_match_probability=threshold)
        db.execute(
            "CREATE OR REPLACE TABLE dd_clusters AS SELECT c.record_id, min(c.record_id) OVER "
            f"(PARTITION BY c.cluster_id) AS cluster_id FROM {clustered.physical_name} c"
        )
        n_clusters = db.one("SELECT count(DISTINCT cluster_id) FROM dd_clusters")
        seconds["cluster"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        _copy_to_csv(db, f"SELECT r.record_id, c.cluster_id FROM {_RAW} r JOIN dd_clusters c "
                          "USING (record_id) ORDER BY r._row", out_csv)
        seconds["write"] = time.perf_counter() - t0
    finally:
        db.close()
    return DedupeResult(
        records=records,
        clusters=int(n_clusters[0]) if n_clusters else 0,
        pairs=int(pairs[0]) if pairs else 0,
        out=out_csv,
        blocking_rules=tuple(model.rules),
        skipped_rules=tuple(model.skipped),
        stage_seconds=MappingProxyType(seconds),
    )
