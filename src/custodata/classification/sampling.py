"""Samples of a table wherever it lives: files and stores through DuckDB, SQL through SQLAlchemy.

Classifying a column needs a few thousand of its values, not all of them, so
every source is read once with a reservoir sample of rows (a uniform sample
whatever the file's order) and each column keeps its first non-blank values
from it.  A reader is one small class per kind of source with a template
``sample``; the differences between CSV, JSON lines, Parquet, a custodata
store and a SQL database stay inside their reader.  Anything wrong with the
input surfaces as one ``SourceError`` naming the source and the problem.
"""

from __future__ import annotations

import codecs
import random
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custodata.engine import file_engine, memory_engine
from custodata.engine.port import BatchEngine
from custodata.errors import EngineError, SourceError

FILE_KINDS: dict[str, str] = {
    ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".parquet": "parquet", ".duckdb": "duckdb",
}
_SNIFF_BYTES = 1 << 20
_FALLBACK_ENCODING = "gb18030"


@dataclass(frozen=True)
class ColumnSample:
    """One column's sampled values, as text, blanks and nulls left out."""

    name: str
    sql_type: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class TableSample:
    source: str  # stable identity, the catalogue's key
    kind: str
    rows_total: int | None  # None when counting would mean reading a large file twice
    rows_sampled: int
    columns: tuple[ColumnSample, ...]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and "://" in source


def _columns(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], per_column: int
             ) -> tuple[ColumnSample, ...]:
    out = []
    for i, (name, sql_type) in enumerate(zip(names, types, strict=True)):
        values: list[str] = []
        for row in rows:
            v = row[i]
            if v is None:
                continue
            text = v if isinstance(v, str) else v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            if text.strip():
                values.append(text)
                if len(values) >= per_column:
                    break
        out.append(ColumnSample(name, sql_type, tuple(values)))
    return tuple(out)


class Reader(ABC):
    """A source to sample: ``sample`` is the template, subclasses read."""

    kind: str = ""

    def __init__(self, location: str, table: str | None = None) -> None:
        self.location = location
        self.table = table

    @property
    @abstractmethod
    def source_id(self) -> str:
        """The source as the catalogue names it: absolute, password-free, with the table."""

    @abstractmethod
    def _read(self, rows: int, seed: int) -> tuple[list[str], list[str], list[tuple[Any, ...]], int | None]:
        """(column names, SQL types, sampled rows, total rows or None)."""

    def sample(self, rows: int, per_column: int, seed: int) -> TableSample:
        names, types, sampled, total = self._read(rows, seed)
        if total is None and len(sampled) < rows:
            total = len(sampled)  # the reservoir was not full: every row was read
        return TableSample(self.source_id, self.kind, total, len(sampled), _columns(names, types, sampled, per_column))


class _DuckDBReader(Reader):
    """Files DuckDB reads natively; subclasses give the relation and whether counting is cheap."""

    cheap_count = False

    def __init__(self, location: str, table: str | None = None) -> None:
        super().__init__(location, table)
        self.path = Path(location)
        self._temp: Path | None = None

    @property
    def source_id(self) -> str:
        return str(self.path.resolve())

    def _connect(self) -> BatchEngine:
        return memory_engine()

    @abstractmethod
    def _relation(self, con: BatchEngine) -> tuple[str, list[Any]]:
        """A FROM clause (with ? parameters) that reads the source."""

    def _error(self, exc: EngineError) -> SourceError:
        return SourceError(f"{self.location}: cannot read as {self.kind}: {_first_line(exc)}")

    def _read(self, rows: int, seed: int) -> tuple[list[str], list[str], list[tuple[Any, ...]], int | None]:
        if not self.path.exists():
            raise SourceError(f"{self.location}: file not found")
        if self.path.is_dir():
            raise SourceError(f"{self.location}: is a folder, not a file")
        try:
            con = self._connect()
        except EngineError as exc:
            raise self._error(exc) from None
        try:
            rel, params = self._relation(con)
            described = con.rows(f"DESCRIBE SELECT * FROM {rel}", params)
            names = [str(r[0]) for r in described]
            types = [str(r[1]) for r in described]
            casts = ", ".join(f"CAST({_quote(n)} AS VARCHAR)" for n in names)
            sampled = con.rows(
                f"SELECT {casts} FROM (SELECT * FROM {rel} USING SAMPLE reservoir({int(rows)} ROWS) "
                f"REPEATABLE ({int(seed)}))", params
            )
            total = None
            if self.cheap_count:
                row = con.one(f"SELECT count(*) FROM {rel}", params)
                total = int(row[0]) if row else None
        except EngineError as exc:
            raise self._error(exc) from None
        finally:
            con.close()
            if self._temp is not None:
                self._temp.unlink(missing_ok=True)
                self._temp = None
        return names, types, sampled, total


class CsvReader(_DuckDBReader):
    """CSV in UTF-8, or else GB18030 (transcoded to a temporary file); delimiter sniffed."""

    kind = "csv"

    def _utf8_path(self) -> Path:
        with self.path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        if not head.strip():
            raise SourceError(f"{self.location}: empty CSV file")
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return self.path
        except UnicodeDecodeError:
            pass
        # Line by line: legacy exports are GB18030 throughout, or UTF-8 with a few GBK lines pasted in.
        fd, name = tempfile.mkstemp(prefix="custodata-scan-", suffix=".csv")
        self._temp = Path(name)
        with self.path.open("rb") as src, open(fd, "w", encoding="utf-8", newline="") as dst:
            for line in src:
                try:
                    dst.write(line.decode("utf-8"))
                except UnicodeDecodeError:
                    dst.write(line.decode(_FALLBACK_ENCODING, errors="replace"))
        return self._temp

    def _relation(self, con: BatchEngine) -> tuple[str, list[Any]]:
        return ("read_csv(?, all_varchar = true, header = true, ignore_errors = true, null_padding = true)",
                [str(self._utf8_path())])


class JsonReader(_DuckDBReader):
    kind = "jsonl"

    def _relation(self, con: BatchEngine) -> tuple[str, list[Any]]:
        fmt = "newline_delimited" if self.kind == "jsonl" else "auto"
        return f"read_json(?, format = '{fmt}', ignore_errors = true)", [str(self.path)]


class JsonDocumentReader(JsonReader):
    kind = "json"


class ParquetReader(_DuckDBReader):
    kind = "parquet"
    cheap_count = True

    def _relation(self, con: BatchEngine) -> tuple[str, list[Any]]:
        return "read_parquet(?)", [str(self.path)]


class StoreReader(_DuckDBReader):
    """A table of a DuckDB file, e.g. ``business.card`` of ``out/custodata.duckdb``, opened read-only."""

    kind = "duckdb"
    cheap_count = True

    @property
    def source_id(self) -> str:
        return f"{self.path.resolve()}#{self.table}"

    def _connect(self) -> BatchEngine:
        return file_engine(self.path, read_only=True)

    def _error(self, exc: EngineError) -> SourceError:
        message = _first_line(exc)
        if "lock" in message.lower():
            return SourceError(f"{self.location}: the store is being written by another process; "
                               "scan it when that run has finished")
        return SourceError(f"{self.location}: cannot read DuckDB table {self.table}: {message}")

    def _relation(self, con: BatchEngine) -> tuple[str, list[Any]]:
        tables = [f"{s}.{t}" for s, t in con.rows(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2")]
        if not self.table:
            raise SourceError(f"{self.location}: a store holds many tables; name one with --table "
                              f"(e.g. {', '.join(tables[:5]) or 'schema.table'})")
        schema, _, name = self.table.rpartition(".")
        qualified = f"{schema or 'main'}.{name}"
        if qualified not in tables:
            near = [t for t in tables if t.endswith("." + name) or t.startswith(f"{schema}.")][:8]
            raise SourceError(f"{self.location}: no table '{self.table}'"
                              + (f"; tables: {', '.join(near)}" if near else ""))
        return f"{_quote(schema or 'main')}.{_quote(name)}", []


class SqlReader(Reader):
    """Any SQLAlchemy URL plus a table name; rows streamed through a reservoir in Python."""

    kind = "sql"

    def _url(self) -> Any:
        import sqlalchemy as sa

        try:
            url = sa.engine.make_url(self.location)
        except sa.exc.ArgumentError:
            raise SourceError(f"{self.location}: not a valid SQLAlchemy URL") from None
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            path = Path(url.database)
            if not path.exists():  # SQLite would quietly create an empty database
                raise SourceError(f"{self.location}: database file {path} not found")
            url = url.set(database=str(path.resolve()))
        return url

    @property
    def display(self) -> str:
        return str(self._url().render_as_string(hide_password=True))

    @property
    def source_id(self) -> str:
        return f"{self.display}#{self.table}"

    def _read(self, rows: int, seed: int) -> tuple[list[str], list[str], list[tuple[Any, ...]], int | None]:
        import sqlalchemy as sa

        url = self._url()
        display = str(url.render_as_string(hide_password=True))
        if not self.table:
            raise SourceError(f"{display}: name the table to scan with --table")
        schema, _, name = self.table.rpartition(".")
        rng = random.Random(seed)  # noqa: S311  (sampling, not security)
        reservoir: list[tuple[Any, ...]] = []
        seen = 0
        try:
            engine = sa.create_engine(url)
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise SourceError(f"{display}: cannot connect: {_first_line(exc)}") from None
        try:
            with engine.connect() as conn:
                tbl = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
                names = [c.name for c in tbl.columns]
                types = [str(c.type) for c in tbl.columns]
                result = conn.execution_options(stream_results=True, yield_per=10_000).execute(sa.select(tbl))
                for row in result:
                    seen += 1
                    if len(reservoir) < rows:
                        reservoir.append(tuple(row))
                    elif (j := rng.randrange(seen)) < rows:
                        reservoir[j] = tuple(row)
        except sa.exc.NoSuchTableError:
            raise SourceError(f"{display}: no table '{self.table}'") from None
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"{display}: cannot read table {self.table}: {_first_line(exc)}") from None
        finally:
            engine.dispose()
        return names, types, reservoir, seen


_READERS: dict[str, type[_DuckDBReader]] = {
    "csv": CsvReader, "jsonl": JsonReader, "json": JsonDocumentReader, "parquet": ParquetReader,
    "duckdb": StoreReader,
}


def open_source(source: str | Path, table: str | None = None) -> Reader:
    """The reader for a file path (kind by extension), a ``.duckdb`` store or a SQLAlchemy URL."""
    if is_url(source):
        return SqlReader(str(source), table)
    path = Path(source)
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(f"{source}: unknown file type '{path.suffix or '(none)'}'; scan .csv, .jsonl, .json, "
                          ".parquet, a .duckdb store with --table, or a SQLAlchemy URL with --table")
    if table and kind != "duckdb":
        raise SourceError(f"{source}: --table applies to a .duckdb store or a SQL URL, not to a {kind} file")
    return _READERS[kind](str(source), table)


def source_id(source: str | Path, table: str | None = None) -> str:
    """How the catalogue names a source, without reading it (URLs lose their password)."""
    reader = open_source(source, table)
    try:
        return reader.source_id
    except SourceError:
        return f"{source}#{table}" if table else str(source)


def sample_table(source: str | Path, table: str | None = None, *, rows: int = 20_000, per_column: int = 2000,
                 seed: int = 7) -> TableSample:
    """Up to ``per_column`` non-blank values of every column, from a reservoir sample of ``rows`` rows."""
    return open_source(source, table).sample(rows, per_column, seed)
