"""The change events of a publish: what differs between the served documents before and after it.

A full publish loads a whole new generation; comparing it with the active one, customer
by customer in id order (two streams, never all documents in memory), tells who was
created, corrected, merged, split off or erased, and which fields changed — by name.

Protected values are re-encrypted by every rebuild (a fresh nonce), so two ciphertexts
never compare equal even when the value is the same: they are compared as equal here,
and a protected field that really changed is known from the golden record's history,
which records every change of a field (protected ones by their token) as a new entry.

:func:`full_publish_changes` is the hook :func:`custodata.serving.publish.publish_served`
calls by default: the comparison runs before the swap, outside any transaction (it is
long); the events are written in the swap's transaction.  If another publish changed
the active generation in between, the comparison is made again inside the swap.

An incremental publish compares only the rows it replaces, with the same function
(:func:`changes_between`), so a change emits the same events whichever way it was served.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from custodata.changes.outbox import ChangeEvent, record_changes
from custodata.ops.store import OpsStore
from custodata.serving.tables import ACTIVE, served_customer, served_generation, served_redirect

_CIPHERTEXT = re.compile(r'"cd1:[^"]*"')
SKIP = ("customer_id", "history")  # the id never changes; history is how fields changed, not a field
STREAM_ROWS = 2_000


def _normalised(doc: str) -> str:
    return _CIPHERTEXT.sub('"cd1"', doc)


def _same(a: Any, b: Any) -> bool:
    if a == b:  # most fields of a changed customer did not change: no canonical form to build for them
        return True
    if isinstance(a, str) and isinstance(b, str) and a.startswith("cd1:") and b.startswith("cd1:"):
        return True  # both protected: a change shows in the history, not in the ciphertext
    if isinstance(a, list) and isinstance(b, list):  # lists are sets here: a rebuild may list them in another order
        return sorted(map(_canonical, a)) == sorted(map(_canonical, b))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return _canonical(a) == _canonical(b)
    return bool(a == b)


def _canonical(value: Any) -> str:
    return _normalised(json.dumps(value, sort_keys=True, ensure_ascii=False))


def _field_name(key: str) -> str:
    return key[: -len("_token")] if key.endswith("_token") else key


def fields_changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of the fields (profile keys, view sections) that differ between two served documents."""
    names: set[str] = set()
    old_p, new_p = old.get("profile") or {}, new.get("profile") or {}
    for key in set(old_p) | set(new_p):
        if not _same(old_p.get(key), new_p.get(key)):
            names.add(_field_name(key))
    seen = {json.dumps(h, sort_keys=True) for h in old.get("history") or []}
    for entry in new.get("history") or []:
        if json.dumps(entry, sort_keys=True) not in seen and entry.get("field"):
            names.add(str(entry["field"]))
    for section in set(old) | set(new):
        if section not in SKIP and section != "profile" and not _same(old.get(section), new.get(section)):
            names.add(section)
    return sorted(names)


def fields_present(doc: dict[str, Any]) -> list[str]:
    """Names of a new customer's fields that hold something (every one of them is new)."""
    profile = doc.get("profile") or {}
    names = {_field_name(k) for k, v in profile.items() if v not in (None, [], "") and k != "customer_id"}
    names |= {s for s in doc if s not in SKIP and s != "profile" and doc[s]}
    return sorted(names)


def _observations(doc: dict[str, Any]) -> set[str]:
    return {str(o["obs_id"]) for o in doc.get("lineage") or [] if o.get("obs_id")}


def _stream(con: sa.Connection, generation: int) -> Iterator[tuple[str, str]]:
    q = (sa.select(served_customer.c.customer_id, served_customer.c.doc)
         .where(served_customer.c.generation == generation).order_by(served_customer.c.customer_id))
    result = con.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(q)
    for cid, doc in result:
        yield str(cid), str(doc)


def _pairs(con: sa.Connection, old: int, new: int) -> Iterator[tuple[str, str | None, str | None]]:
    """(customer id, old doc, new doc) over both generations in id order: a merge join of two streams."""
    a, b = _stream(con, old), _stream(con, new)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if x is not None and (y is None or x[0] < y[0]):
            yield x[0], x[1], None
            x = next(a, None)
        elif y is not None and (x is None or y[0] < x[0]):
            yield y[0], None, y[1]
            y = next(b, None)
        elif x is not None and y is not None:
            if x[1] != y[1]:
                yield x[0], x[1], y[1]
            x, y = next(a, None), next(b, None)


@dataclass
class _Diff:
    corrected: dict[str, list[str]] = field(default_factory=dict)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> new doc
    gone: dict[str, set[str]] = field(default_factory=dict)  # id -> its observations
    moved_from: dict[str, str] = field(default_factory=dict)  # observation -> changed customer it was in


def _compare(pairs: Iterable[tuple[str, str | None, str | None]]) -> _Diff:
    diff = _Diff()
    for cid, before, after in pairs:
        if before is not None and after is not None:
            if _normalised(before) == _normalised(after):
                continue  # only re-encrypted
            old_doc, new_doc = json.loads(before), json.loads(after)
            names = fields_changed(old_doc, new_doc)
            if names:
                diff.corrected[cid] = names
            for obs in _observations(old_doc) - _observations(new_doc):
                diff.moved_from[obs] = cid
        elif after is not None:
            diff.created[cid] = json.loads(after)
        elif before is not None:
            diff.gone[cid] = _observations(json.loads(before))
    return diff


def _redirects(con: sa.Connection, generation: int, ids: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for i in range(0, len(ids), 500):
        q = (sa.select(served_redirect.c.old_id, served_redirect.c.customer_id)
             .where(served_redirect.c.generation == generation, served_redirect.c.old_id.in_(ids[i:i + 500])))
        out.update({str(o): None if c is None else str(c) for o, c in con.execute(q)})
    return out


def diff_generations(con: sa.Connection, old: int, new: int, *, run_id: str | None = None) -> list[ChangeEvent]:
    """The per-customer events that take the served view from generation ``old`` to ``new``."""
    return changes_between(con, _pairs(con, old, new), generation=new, run_id=run_id)


def changes_between(
    con: sa.Connection, pairs: Iterable[tuple[str, str | None, str | None]], *, generation: int,
    run_id: str | None = None,
) -> list[ChangeEvent]:
    """The events for (customer id, served document before or None, after or None), as ``generation`` stands.

    The one comparison both publishing paths make, so an event is the same whichever
    path a change took: a full publish passes every document that differs between the
    active generation and the loaded one; an incremental publish
    (:func:`custodata.serving.incremental.publish_customers`) passes the rows it
    replaced and the rows it wrote, after writing them, in its transaction.  A
    customer no longer served was merged when ``generation``'s redirect names a
    survivor, erased when it leads nowhere.
    """
    diff = _compare(pairs)
    return _events(diff, _redirects(con, generation, sorted(diff.gone)), generation, run_id)


def _events(diff: _Diff, redirect: Mapping[str, str | None], new: int | None, run_id: str | None) -> list[ChangeEvent]:
    events: dict[str, ChangeEvent] = {}
    kinds: dict[str, str] = {}
    ids: dict[str, dict[str, Any]] = {}
    # split off: a new customer whose records were another's, who is still there
    for cid, doc in diff.created.items():
        origins = sorted({diff.moved_from[o] for o in _observations(doc) if o in diff.moved_from})
        if origins:
            kinds[cid] = "unmerged"
            ids[cid] = {"split_from": origins[0]}
            for origin in origins:
                kinds[origin] = "unmerged"
                ids.setdefault(origin, {}).setdefault("split", []).append(cid)
        else:
            kinds[cid] = "created"
    # gone: merged into the survivor the redirect names, or erased (redirect to nothing)
    for cid in sorted(diff.gone):
        survivor = redirect.get(cid)
        if survivor is not None:
            kinds[cid] = "merged"
            ids[cid] = {"merged_into": survivor}
            kinds[survivor] = "merged"
            ids.setdefault(survivor, {}).setdefault("merged", []).append(cid)
        else:
            kinds[cid] = "erased"
    for cid in sorted(set(kinds) | set(diff.corrected)):
        if cid in diff.created:
            names = fields_present(diff.created[cid])
        else:
            names = diff.corrected.get(cid, [])
        events[cid] = ChangeEvent(kinds.get(cid, "corrected"), cid, names, ids.get(cid, {}), new, run_id)
    return [events[c] for c in sorted(events)]


def active_generation(con: sa.Connection) -> int | None:
    value = con.execute(sa.select(served_generation.c.generation)
                        .where(served_generation.c.status == ACTIVE)).scalar()
    return None if value is None else int(value)


def full_publish_changes(ops: OpsStore, generation: int, run_id: str | None) -> Callable[[sa.Connection], None]:
    """Compare the loaded ``generation`` with the active one now; return what writes the events in the swap.

    The first generation of a store has no per-customer events (downstream systems take
    it whole); every publish ends with one ``published`` event naming its generation.
    """
    with ops.read() as con:
        old = active_generation(con)
        events = diff_generations(con, old, generation, run_id=run_id) if old is not None else []

    def write(con: sa.Connection) -> None:
        current = active_generation(con)
        found = events
        if current != old:  # another publish came in between: compare with what is served now
            found = diff_generations(con, current, generation, run_id=run_id) if current is not None else []
        record_changes(con, [*found, ChangeEvent("published", generation=generation, run_id=run_id)])

    return write


__all__ = ["active_generation", "changes_between", "diff_generations", "fields_changed", "fields_present",
           "full_publish_changes"]
