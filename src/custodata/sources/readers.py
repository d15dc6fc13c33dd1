"""Readers that put one source system's export into landing, untouched but for text.

Landing keeps every value as text exactly as the system wrote it: typing and
validation belong to the business data sub-domains, so nothing is lost before
a reason can be recorded.  What cannot even be parsed (broken lines, bytes in
the wrong encoding) is returned as rejects with a reason, never dropped.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from custodata.engine.port import BatchEngine
from custodata.errors import EngineError, SourceError
from custodata.quality import QuarantineReason
from custodata.sources.mapping import SourceMapping


@dataclass(frozen=True)
class Reject:
    """A row that could not be parsed at all; it goes to quarantine with its reason."""

    row_no: int
    reason: QuarantineReason
    detail: str
    raw: str


@dataclass(frozen=True)
class Landed:
    """What a reader put into landing: a table of text columns plus its rejects."""

    table: str
    rows: int
    rejects: tuple[Reject, ...]

    @property
    def read(self) -> int:
        return self.rows + len(self.rejects)


def source_location(mapping: SourceMapping, input_dir: Path) -> Path:
    """The file a mapping points to, resolved against the input folder."""
    if mapping.format == "sql":
        url = mapping.url or ""
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            return input_dir / url[len(prefix):]
        return Path(url)
    return input_dir / (mapping.path or "")


def content_hash(mapping: SourceMapping, input_dir: Path) -> str:
    """A hash of the source's bytes: the same export re-run is the same batch."""
    location = source_location(mapping, input_dir)
    digest = hashlib.sha256(mapping.model_dump_json().encode())
    if mapping.format == "sql" and not location.exists():
        # a live database: hash the rows we read (done by the caller after reading)
        return digest.hexdigest()
    if not location.exists():
        raise SourceError(
            f"source '{mapping.system}': {location} not found "
            f"(the mapping's {'url' if mapping.format == 'sql' else 'path'} is resolved "
            f"against the input folder {input_dir})"
        )
    with location.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _csv_reason(error_type: str) -> QuarantineReason:
    return (
        QuarantineReason.ENCODING_INVALID
        if "ENCODING" in error_type.upper()
        else QuarantineReason.CSV_MALFORMED
    )


def _transcode(path: Path, encoding: str, rejects: list[Reject]) -> Path:
    """Re-encode a non-UTF-8 CSV line by line so one bad line does not sink the file."""
    codecs.lookup(encoding)  # raises LookupError for an unknown encoding name
    out = Path(tempfile.mkstemp(prefix="custodata-", suffix=".csv")[1])  # 0600; the caller deletes it
    try:
        with path.open("rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
            for line_no, raw in enumerate(src, start=1):
                try:
                    dst.write(raw.decode(encoding))
                except UnicodeDecodeError as exc:
                    rejects.append(
                        Reject(line_no, QuarantineReason.ENCODING_INVALID, str(exc)[:200],
                               raw.decode(encoding, errors="replace").rstrip("\r\n"))
                    )
    except BaseException:
        out.unlink(missing_ok=True)  # a half-written plaintext copy never outlives a failed read
        raise
    return out


def _csv_header(path: Path, delimiter: str, quote: str) -> list[str]:
    import csv

    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        first = next(csv.reader(fh, delimiter=delimiter, quotechar=quote), None)
    if not first:
        raise SourceError(f"{path}: empty CSV file (no header line)")
    return [c.strip().lstrip("\ufeff") for c in first]


_TAIL_BYTES = 1 << 20  # how far back the start of a cut-off last record is looked for
_CHUNK = 16 << 20


def _cut_off_tail(path: Path, quote: str) -> Reject | None:
    """The file's last record when the export ends inside a quoted field (a cut-off transfer), else None.

    The engine's CSV reader drops such a record without a reject, so it would be lost
    between "read" and "quarantined".  With the quote character doubled to escape it, a
    complete file holds an even number of quote characters; an odd count means the last
    record never ended.  Its start is the last line break with an odd number of quotes
    after it (a break inside the open field has none after it).
    """
    q = quote.encode("utf-8")
    if len(q) != 1:
        return None
    quotes = newlines = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            quotes += chunk.count(q)
            newlines += chunk.count(b"\n")
    if quotes % 2 == 0:
        return None
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read()
    start, after = 0, 0
    for i in range(len(tail) - 1, -1, -1):
        if tail[i:i + 1] == q:
            after += 1
        elif tail[i:i + 1] == b"\n" and after % 2 == 1:
            start = i + 1
            break
    record = tail[start:]
    line_no = newlines - record.count(b"\n") + 1
    return Reject(line_no, QuarantineReason.CSV_MALFORMED,
                  "the file ends inside a quoted field: the last record was cut off (an incomplete export)",
                  record.decode("utf-8", errors="replace").rstrip("\r\n"))


def _land_csv(mapping: SourceMapping, path: Path, db: BatchEngine, table: str) -> Landed:
    rejects: list[Reject] = []
    opts = mapping.csv
    encoding = opts.encoding.lower().replace("_", "-")
    read_path = path
    if encoding not in ("utf-8", "utf8"):
        try:
            read_path = _transcode(path, encoding, rejects)
        except LookupError:
            raise SourceError(
                f"source '{mapping.system}': unknown encoding '{opts.encoding}' "
                "(key csv.encoding; use e.g. utf-8, gb18030, gbk)"
            ) from None
    try:
        header = _csv_header(read_path, opts.delimiter, opts.quote)
        if not opts.header:
            header = [f"column{i}" for i in range(len(header))]
        columns = "{" + ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': 'VARCHAR'" for c in header) + "}"
        # no sniffing: the header fixes the columns, so broken lines cannot confuse the dialect;
        # the rejects tables are per read, so one source's rejects never count for another
        db.execute("DROP TABLE IF EXISTS _csv_rejects")
        db.execute("DROP TABLE IF EXISTS _csv_scans")
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE _csv AS SELECT * FROM read_csv(?, columns = {columns}, "
            "auto_detect = false, skip = ?, delim = ?, quote = ?, escape = ?, store_rejects = true, "
            "rejects_table = '_csv_rejects', rejects_scan = '_csv_scans', "
            "null_padding = false, strict_mode = true, parallel = false)",
            [str(read_path), 1 if opts.header else 0, opts.delimiter, opts.quote, opts.quote],
        )
        for line, error_type, csv_line, message in db.rows(
            "SELECT line, error_type, csv_line, error_message FROM _csv_rejects ORDER BY line"
        ):
            rejects.append(Reject(int(line), _csv_reason(str(error_type)), str(message)[:200],
                                  str(csv_line or "")))
        cut = _cut_off_tail(read_path, opts.quote)
        if cut is not None and all(r.row_no != cut.row_no for r in rejects):
            rejects.append(cut)
    except EngineError as exc:
        raise SourceError(f"source '{mapping.system}': cannot read CSV {path}: {exc}") from None
    finally:
        if read_path != path:
            read_path.unlink(missing_ok=True)
    # one line can carry several errors; it is still one rejected row
    unique: dict[int, Reject] = {}
    for r in rejects:
        unique.setdefault(r.row_no, r)
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT row_number() OVER () AS _row, * FROM _csv"
    )
    db.execute("DROP TABLE _csv")
    rows = _count(db, table)
    return Landed(table, rows, tuple(unique.values()))


def _iter_jsonl(path: Path, rejects: list[Reject]) -> Iterator[dict[str, str | None]]:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
                if not isinstance(obj, dict):
                    raise ValueError("a line must hold one JSON object")
            except UnicodeDecodeError as exc:
                rejects.append(Reject(line_no, QuarantineReason.ENCODING_INVALID, str(exc)[:200],
                                      raw.decode("utf-8", errors="replace").rstrip()))
                continue
            except ValueError as exc:
                rejects.append(Reject(line_no, QuarantineReason.CSV_MALFORMED, str(exc)[:200],
                                      raw.decode("utf-8", errors="replace").rstrip()))
                continue
            yield {
                k: (None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                for k, v in obj.items()
            }


def _land_rows(
    rows: Iterator[dict[str, str | None]], columns: list[str],
    db: BatchEngine, table: str,
) -> int:
    """Write dict rows as an all-text table, in batches to bound memory."""
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} (_row BIGINT, "
        + ", ".join(f'"{c}" VARCHAR' for c in columns) + ")"
    )
    n = 0
    batch: list[dict[str, str | None]] = []

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        data = {"_row": pa.array(range(n - len(batch) + 1, n + 1), pa.int64())}
        for c in columns:
            data[c] = pa.array([r.get(c) for r in batch], pa.string())
        db.put_arrow("_landing_batch", pa.table(data))
        try:
            db.execute(f"INSERT INTO {table} SELECT * FROM _landing_batch")
        finally:
            db.drop_arrow("_landing_batch")
        batch = []

    for row in rows:
        n += 1
        batch.append(row)
        if len(batch) >= 100_000:
            flush()
    flush()
    return n


def _land_jsonl(mapping: SourceMapping, path: Path, db: BatchEngine, table: str) -> Landed:
    rejects: list[Reject] = []
    try:
        rows = _land_rows(_iter_jsonl(path, rejects), mapping.columns(), db, table)
    except OSError as exc:
        raise SourceError(f"source '{mapping.system}': cannot read {path}: {exc}") from None
    return Landed(table, rows, tuple(rejects))


def _land_parquet(mapping: SourceMapping, path: Path, db: BatchEngine, table: str) -> Landed:
    try:
        cols = [r[0] for r in db.rows("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)])]
        casts = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in cols)
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT row_number() OVER () AS _row, {casts} "
            "FROM read_parquet(?)",
            [str(path)],
        )
    except EngineError as exc:
        raise SourceError(f"source '{mapping.system}': cannot read Parquet {path}: {exc}") from None
    return Landed(table, _count(db, table), ())


def _land_sql(mapping: SourceMapping, input_dir: Path, db: BatchEngine, table: str) -> Landed:
    import sqlalchemy as sa

    url = mapping.url or ""
    location = source_location(mapping, input_dir)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        if not location.exists():
            raise SourceError(f"source '{mapping.system}': database file {location} not found")
        url = f"sqlite:///{location}"
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            tbl = sa.Table(mapping.table or "", sa.MetaData(), autoload_with=conn)
            columns = [c.name for c in tbl.columns]
            result = conn.execution_options(stream_results=True).execute(sa.select(tbl))

            def rows() -> Iterator[dict[str, str | None]]:
                for rec in result.mappings():
                    yield {k: (None if v is None else str(v)) for k, v in rec.items()}

            n = _land_rows(rows(), columns, db, table)
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(f"source '{mapping.system}': cannot read table {mapping.table}: {exc}") from None
    return Landed(table, n, ())


def _count(db: BatchEngine, table: str) -> int:
    row = db.one(f"SELECT count(*) FROM {table}")
    return int(row[0]) if row else 0


def land_records(mapping: SourceMapping, records: Iterable[dict[str, str | None]], db: BatchEngine,
                 table: str) -> Landed:
    """Land records given in memory (the ``mdm`` source's creates) exactly as a JSON-lines export's rows."""
    return Landed(table, _land_rows(iter(records), mapping.columns(), db, table), ())


def land(mapping: SourceMapping, input_dir: Path, db: BatchEngine, table: str) -> Landed:
    """Read a source into ``table`` (all text) and report what could not be parsed."""
    path = source_location(mapping, input_dir)
    if mapping.format != "sql" and not path.exists():
        raise SourceError(f"source '{mapping.system}': {path} not found")
    if mapping.format == "csv":
        landed = _land_csv(mapping, path, db, table)
    elif mapping.format == "jsonl":
        landed = _land_jsonl(mapping, path, db, table)
    elif mapping.format == "parquet":
        landed = _land_parquet(mapping, path, db, table)
    else:
        landed = _land_sql(mapping, input_dir, db, table)
    present = {r[0] for r in db.rows(f"DESCRIBE {table}")}
    missing = [c for c in mapping.columns() if c not in present]
    if missing and landed.rows:
        raise SourceError(
            f"source '{mapping.system}': columns {missing} named in the mapping are not in the "
            f"data (found: {sorted(present - {'_row'})}); fix the mapping or the export"
        )
    if missing:  # empty export: add the columns so later steps still type-check
        for c in missing:
            db.execute(f'ALTER TABLE {table} ADD COLUMN "{c}" VARCHAR')
    return landed
