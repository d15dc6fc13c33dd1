"""Policy versions in the operational store: import, export, history, and the engine in force.

A policy change is a new version, never an update: the audit log names a rule
id and a version, and an auditor must be able to read that exact version back
years later.  Each change is validated fully before it is stored and appended
to the audit log with its sha256 and the sections it changed.

``current()`` is called on every request, so it keeps the engine in memory and
asks the store for the newest version number at most once per
``recheck_seconds`` (one indexed read of a primary-key maximum); ``refresh()``
asks at once, e.g. right after an import in the same process.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from custodata.access.engine import PolicyEngine
from custodata.access.policy_document import (
    PolicyDocument,
    changed_sections,
    default_document_yaml,
    parse_document_yaml,
)
from custodata.access.tables import policy_version
from custodata.audit.events import Action, AuditEvent, AuditSink
from custodata.errors import NotFoundError, StateError
from custodata.ops.store import OpsStore


@dataclass(frozen=True)
class PolicyVersionInfo:
    """One stored version, without its text."""

    version: int
    sha256: str
    created_by: str
    created_at: dt.datetime  # naive UTC
    comment: str


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _origin(version: int) -> str:
    return f"policy version {version}"


class PolicyStore:
    """The versioned policy of one operational store, and a cached engine of its newest version."""

    def __init__(
        self,
        store: OpsStore,
        audit: AuditSink,
        *,
        recheck_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.audit = audit
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._engine: PolicyEngine | None = None
        self._checked_at = float("-inf")

    # ---- the engine in force ------------------------------------------------------------------

    def current(self) -> PolicyEngine:
        """The engine of the newest version; re-checked against the store at most every ``recheck_seconds``."""
        engine = self._engine
        if engine is not None and self._clock() - self._checked_at < self.recheck_seconds:
            return engine
        return self.refresh()

    def refresh(self) -> PolicyEngine:
        """Ask the store now; load the newest version if it is not the one in memory."""
        with self._lock:
            latest = self.latest_version()
            if latest is None:
                raise StateError("the operational store holds no policy yet: "
                                 "run `custodata policy import FILE` or seed the shipped defaults")
            if self._engine is None or self._engine.version != latest:
                self._engine = self.engine(latest)
            self._checked_at = self._clock()
            return self._engine

    def engine(self, version: int) -> PolicyEngine:
        """An engine of one stored version (e.g. to explain a past decision by the version it names)."""
        text = self.export_yaml(version)
        return PolicyEngine(parse_document_yaml(text, _origin(version)), version=version)

    def latest_version(self) -> int | None:
        with self.store.read() as con:
            value = con.execute(sa.select(sa.func.max(policy_version.c.version))).scalar_one()
        return int(value) if value is not None else None

    # ---- changes ------------------------------------------------------------------------------

    def seed_default(self, *, by: str) -> int:
        """Store the shipped defaults as version 1 when the store has no policy; else the newest version."""
        latest = self.latest_version()
        if latest is not None:
            return latest
        return self._store(default_document_yaml(), by=by, comment="shipped default policy", only_if_empty=True)

    def import_yaml(self, text: str, *, by: str, comment: str, expected_base: int | None | bool = False) -> int:
        """Validate ``text`` fully and store it as the next version; returns the version in force.

        Importing the text of the newest version again stores nothing and
        returns that version: a version number stands for a change.
        """
        if not comment.strip():
            raise StateError("a policy change needs a comment saying why (ticket, reason)")
        return self._store(text, by=by, comment=comment, only_if_empty=False, expected_base=expected_base)

    def _store(self, text: str, *, by: str, comment: str, only_if_empty: bool,
               expected_base: int | None | bool = False) -> int:
        """Store ``text`` as the next version; with ``expected_base`` (a version, or None for an empty
        store), only on top of that version: an approved import lands on the version it was compared with."""
        if not by.strip():
            raise StateError("a policy change needs the actor who made it")
        digest = _sha256(text)
        with self.store.read() as con:
            row = con.execute(
                sa.select(policy_version.c.version, policy_version.c.sha256, policy_version.c.document)
                .order_by(policy_version.c.version.desc()).limit(1)
            ).first()
        previous_version = int(row.version) if row is not None else 0
        if expected_base is not False and previous_version != (expected_base or 0):
            raise StateError(f"policy version {previous_version or 'none'} is in force, not version "
                             f"{expected_base} that this import was compared with: file the import again")
        document = parse_document_yaml(text, f"policy version {previous_version + 1} (import)")
        if row is not None and (only_if_empty or row.sha256 == digest):
            return previous_version
        previous: PolicyDocument | None = None
        if row is not None:
            previous = parse_document_yaml(row.document, _origin(previous_version))
        changed = changed_sections(previous, document)
        version = previous_version + 1
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        try:
            with self.store.begin() as con:
                # a concurrent change in between takes the same number: the primary key refuses the second
                latest = con.execute(sa.select(sa.func.max(policy_version.c.version))).scalar_one()
                if (latest or 0) != previous_version:
                    if only_if_empty:  # another process seeded first: nothing left to do
                        return int(latest)
                    raise StateError(f"policy version {latest} was stored while this import was being checked; "
                                     "export it, merge your change and import again")
                con.execute(policy_version.insert().values(
                    version=version, document=text, sha256=digest, created_by=by, created_at=now, comment=comment))
        except sa.exc.IntegrityError:
            if only_if_empty:
                return version
            raise StateError(f"policy version {version} was stored by someone else at the same time; "
                             "export it, merge your change and import again") from None
        # appended after the commit: the audit log writes in its own transaction (SQLite has one writer)
        self.audit.append(AuditEvent(
            actor=by,
            action=Action.POLICY_CHANGE,
            reason=comment,
            detail={"version": version, "sha256": digest, "comment": comment, "changed": changed,
                    "previous_version": previous_version or None},
            at=now.replace(tzinfo=dt.UTC),
        ))
        return version

    # ---- reading ------------------------------------------------------------------------------

    def export_yaml(self, version: int | None = None) -> str:
        """The text of ``version`` (default: the newest) exactly as it was imported."""
        query = sa.select(policy_version.c.version, policy_version.c.document)
        query = (query.where(policy_version.c.version == version) if version is not None
                 else query.order_by(policy_version.c.version.desc()).limit(1))
        with self.store.read() as con:
            row = con.execute(query).first()
        if row is None:
            if version is None:
                raise NotFoundError("the operational store holds no policy yet")
            raise NotFoundError(f"no policy version {version}; see `custodata policy history`")
        return str(row.document)

    def history(self) -> list[PolicyVersionInfo]:
        """Every version, oldest first."""
        c = policy_version.c
        with self.store.read() as con:
            rows = con.execute(
                sa.select(c.version, c.sha256, c.created_by, c.created_at, c.comment).order_by(c.version)
            ).all()
        return [PolicyVersionInfo(int(r.version), r.sha256, r.created_by, r.created_at, r.comment) for r in rows]

    def diff(self, a: int, b: int) -> str:
        """A unified diff of two versions' texts."""
        old, new = self.export_yaml(a), self.export_yaml(b)
        return "".join(difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"policy version {a}", tofile=f"policy version {b}",
        ))
