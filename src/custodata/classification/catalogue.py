"""The data catalogue [数据目录]: every scanned column, its grade, and the steward's word on it.

A scan proposes; a data steward decides.  Each (source, column) has one entry
whose ``type`` / ``category`` / ``level`` are in force: the detection while
the entry is ``detected``, the steward's decision once it is ``confirmed`` or
``overridden``.  A re-scan refreshes only detected entries; on decided ones it
records the new detection alongside (``detected_type``, ``detected_level``,
``confidence``) so a drift is visible, and never clobbers the decision.

The catalogue lives in SQLAlchemy Core with portable types only, by default
in ``OUT_DIR/custodata.sqlite``; any SQLAlchemy URL (PostgreSQL later) works.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from custodata.classification.grading import Grading, load_grading
from custodata.classification.sampling import source_id
from custodata.classification.scan import ScanReport
from custodata.errors import CustodataError, NotFoundError
from custodata.ops.metadata import metadata  # one schema for the whole operational store
from custodata.ops.store import OpsStore, make_engine

CATALOGUE_FILE = "custodata.sqlite"


class CatalogueError(ValueError, CustodataError):
    """A catalogue operation is refused (bad level, missing steward) or the database failed."""


class Status(StrEnum):
    DETECTED = "detected"
    CONFIRMED = "confirmed"
    OVERRIDDEN = "overridden"



catalogue_entry = sa.Table(
    "catalogue_entry",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(512), nullable=False),
    sa.Column("column", sa.String(255), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    # in force: the detection (status detected) or the steward's decision
    sa.Column("type", sa.String(64)),
    sa.Column("category", sa.String(8)),
    sa.Column("level", sa.Integer),
    # the latest detection, refreshed by every scan
    sa.Column("recogniser", sa.String(128)),
    sa.Column("confidence", sa.Float),
    sa.Column("detected_type", sa.String(64)),
    sa.Column("detected_level", sa.Integer),
    sa.Column("explanation", sa.Text),
    sa.Column("evidence", sa.Text),  # JSON list of masked values
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("confirmed_by", sa.String(255)),
    sa.Column("note", sa.Text),
    sa.Column("scanned_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("source", "column", name="uq_catalogue_entry_source_column"),
)


@dataclass(frozen=True)
class CatalogueEntry:
    """One column as the catalogue knows it (UTC times)."""

    source: str
    column: str
    position: int
    type: str | None
    category: str | None
    level: int | None
    recogniser: str | None
    confidence: float | None
    detected_type: str | None
    detected_level: int | None
    explanation: str | None
    evidence: tuple[str, ...]
    status: str
    confirmed_by: str | None
    note: str | None
    scanned_at: dt.datetime | None
    updated_at: dt.datetime

    @property
    def drift(self) -> bool:
        """A decided entry whose latest scan detects something else."""
        return self.status != Status.DETECTED and (self.detected_type, self.detected_level) != (self.type, self.level)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = list(self.evidence)
        d["scanned_at"] = self.scanned_at.isoformat() if self.scanned_at else None
        d["updated_at"] = self.updated_at.isoformat()
        d["drift"] = self.drift
        return d

    @classmethod
    def _from_row(cls, row: sa.Row[Any]) -> CatalogueEntry:
        m = row._mapping
        return cls(
            source=m["source"], column=m["column"], position=m["position"], type=m["type"],
            category=m["category"], level=m["level"], recogniser=m["recogniser"], confidence=m["confidence"],
            detected_type=m["detected_type"], detected_level=m["detected_level"], explanation=m["explanation"],
            evidence=tuple(json.loads(m["evidence"] or "[]")), status=m["status"], confirmed_by=m["confirmed_by"],
            note=m["note"], scanned_at=_utc(m["scanned_at"]), updated_at=_utc(m["updated_at"]) or _now(),
        )


@dataclass(frozen=True)
class RecordResult:
    """What recording a scan changed."""

    inserted: int
    updated: int  # detected entries refreshed
    kept: int  # confirmed / overridden entries whose decision stood


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # Portable DateTime columns drop the zone: custodata writes UTC, so it is UTC on the way out.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


class Catalogue:
    """The catalogue in one SQL database; a context manager that disposes of its engine."""

    def __init__(self, url: str, *, grading: Grading | None = None) -> None:
        self.url = url
        self.grading = grading or load_grading()
        try:
            self._engine = make_engine(url)
            OpsStore(url, self._engine).ensure_schema()  # the catalogue lives in the operational store
        except (sa.exc.SQLAlchemyError, ImportError, CustodataError) as exc:
            raise CatalogueError(f"catalogue {self._display}: {_first_line(exc)}") from None

    @property
    def _display(self) -> str:
        try:
            return str(sa.engine.make_url(self.url).render_as_string(hide_password=True))
        except sa.exc.ArgumentError:
            return self.url

    @classmethod
    def open(cls, store: Path | None = None, *, url: str | None = None, create: bool = True,
             grading: Grading | None = None) -> Catalogue:
        """``url`` if given, else ``STORE/custodata.sqlite`` (``create=False``: it must exist)."""
        if url:
            return cls(url, grading=grading)
        folder = store or Path("out")
        path = folder / CATALOGUE_FILE
        if not create and not path.exists():
            raise NotFoundError(f"no catalogue in {folder}: run `custodata scan SOURCE --store {folder}` first")
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path.resolve()}", grading=grading)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise CatalogueError(f"catalogue {self._display}: {_first_line(exc)}") from None

    # ------------------------------------------------------------------ scans

    def record(self, report: ScanReport) -> RecordResult:
        """Upsert a scan's findings; decided entries keep their decision (portable: no ON CONFLICT)."""
        scanned_at = _naive(dt.datetime.fromisoformat(report.scanned_at))
        now = _naive(_now())
        inserted = updated = kept = 0
        t = catalogue_entry
        with self._begin() as conn:
            existing = {
                r.column: r.status
                for r in conn.execute(sa.select(t.c.column, t.c.status).where(t.c.source == report.source))
            }
            for position, f in enumerate(report.columns):
                detection = {
                    "recogniser": f.recogniser, "confidence": f.confidence, "detected_type": f.type,
                    "detected_level": f.level, "explanation": f.explanation,
                    "evidence": json.dumps(list(f.evidence), ensure_ascii=False), "scanned_at": scanned_at,
                    "position": position,
                }
                in_force = {"type": f.type, "category": f.category, "level": f.level}
                status = existing.get(f.column)
                if status is None:
                    conn.execute(t.insert().values(source=report.source, column=f.column, status=Status.DETECTED,
                                                   updated_at=now, **detection, **in_force))
                    inserted += 1
                    continue
                where = (t.c.source == report.source) & (t.c.column == f.column)
                if status == Status.DETECTED:
                    conn.execute(t.update().where(where).values(updated_at=now, **detection, **in_force))
                    updated += 1
                else:
                    conn.execute(t.update().where(where).values(**detection))
                    kept += 1
        return RecordResult(inserted, updated, kept)

    # ------------------------------------------------------------------ reading

    def entries(self, source: str | None = None) -> list[CatalogueEntry]:
        t = catalogue_entry
        query = sa.select(t).order_by(t.c.source, t.c.position, t.c.column)
        if source is not None:
            query = query.where(t.c.source == self._resolve(source))
        with self._begin() as conn:
            return [CatalogueEntry._from_row(r) for r in conn.execute(query)]

    def sources(self) -> list[str]:
        with self._begin() as conn:
            return [r[0] for r in conn.execute(sa.select(catalogue_entry.c.source).distinct().order_by(
                catalogue_entry.c.source))]

    def entry(self, source: str, column: str) -> CatalogueEntry:
        t = catalogue_entry
        resolved = self._resolve(source)
        with self._begin() as conn:
            row = conn.execute(sa.select(t).where((t.c.source == resolved) & (t.c.column == column))).first()
        if row is None:
            raise NotFoundError(f"no catalogue entry for column '{column}' of {resolved}; "
                                "scan the source with --store first (custodata catalogue list shows sources)")
        return CatalogueEntry._from_row(row)

    def _resolve(self, source: str, table: str | None = None) -> str:
        """A source as stored, or as the scan would name it (a relative path, a URL with password)."""
        with self._begin() as conn:
            stored = conn.execute(sa.select(catalogue_entry.c.id).where(catalogue_entry.c.source == source)
                                  .limit(1)).first()
        if stored is not None and table is None:
            return source
        try:
            return source_id(source, table)
        except CustodataError:
            return source

    # ------------------------------------------------------------------ steward decisions

    def confirm(self, source: str, column: str, *, by: str, note: str | None = None,
                table: str | None = None) -> CatalogueEntry:
        """The steward agrees with the detection in force; later scans will not change it."""
        entry = self.entry(self._resolve(source, table), column)
        self._decide(entry, by=by, note=note, status=Status.CONFIRMED,
                     values={"type": entry.type, "category": entry.category, "level": entry.level})
        return self.entry(entry.source, column)

    def override(self, source: str, column: str, *, type_: str | None, by: str, note: str,
                 level: int | None = None, table: str | None = None) -> CatalogueEntry:
        """The steward sets the type (None: not sensitive) and, optionally, a level other than the grading's."""
        entry = self.entry(self._resolve(source, table), column)
        if not note or not note.strip():
            raise CatalogueError("an override needs a note saying why")
        if type_ is None:
            category, graded = None, None
        else:
            grade = self.grading.grade(type_)
            category, graded = grade.category, grade.level
        if level is not None and not 1 <= level <= 5:
            raise CatalogueError(f"level must be 1 to 5 (JR/T 0197), not {level}")
        values = {"type": type_, "category": category, "level": level if level is not None else graded}
        self._decide(entry, by=by, note=note, status=Status.OVERRIDDEN, values=values)
        return self.entry(entry.source, column)

    def _decide(self, entry: CatalogueEntry, *, by: str, note: str | None, status: Status,
                values: dict[str, Any]) -> None:
        if not by or not by.strip():
            raise CatalogueError("a steward decision needs the steward's name (--by)")
        t = catalogue_entry
        with self._begin() as conn:
            conn.execute(t.update().where((t.c.source == entry.source) & (t.c.column == entry.column)).values(
                status=status, confirmed_by=by.strip(), note=note, updated_at=_naive(_now()), **values))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
