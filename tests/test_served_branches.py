"""Many customers' branches in one read (the row rule over a view's related customers), on both engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from custodata.errors import NotFoundError
from custodata.ops import open_ops
from custodata.ops.store import OpsStore
from custodata.serving import ServedView
from custodata.serving.tables import ACTIVE, RETIRED, served_customer, served_generation, served_redirect


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    store = open_ops(ops_url)
    yield store
    store.close()


def _publish(ops: OpsStore, generation: int, status: str, customers: dict[str, str | None],
             redirects: dict[str, str | None]) -> None:
    with ops.begin() as con:
        con.execute(served_generation.insert().values(generation=generation, status=status,
                                                      published_at=dt.datetime(2026, 1, 1), customers=len(customers)))
        con.execute(served_customer.insert(), [{"generation": generation, "customer_id": c, "branches": b,
                                                "doc": "{}"} for c, b in customers.items()])
        if redirects:
            con.execute(served_redirect.insert(), [{"generation": generation, "old_id": o, "customer_id": n}
                                                   for o, n in redirects.items()])


def test_branches_of_many_answers_what_branches_of_answers_id_by_id(ops: OpsStore) -> None:
    """Merged ids are followed, erased and unknown ids left out, as one-by-one reads would answer."""
    _publish(ops, 1, ACTIVE, {"C1": "|B1|B2|", "C2": "|B3|", "C3": None},
             {"C9": "C1", "C8": None})  # C9 merged into C1, C8 erased
    served = ServedView(ops)
    asked = ["C1", "C2", "C3", "C9", "C8", "C404", " ", "C2"]
    many = served.branches_of_many(asked)
    one_by_one = {}
    for cid in asked:
        try:
            one_by_one[cid] = served.branches_of(cid)
        except (NotFoundError, ValueError):
            continue
    assert many == one_by_one
    assert many == {"C1": frozenset({"B1", "B2"}), "C2": frozenset({"B3"}), "C3": frozenset(),
                    "C9": frozenset({"B1", "B2"})}
    assert served.branches_of_many([]) == {}


def test_branches_of_many_follows_a_publish_made_meanwhile(ops: OpsStore) -> None:
    """A reader holding the old generation still finds a customer only the new one has."""
    _publish(ops, 1, ACTIVE, {"C1": "|B1|"}, {})
    served = ServedView(ops, generation_ttl=3600)
    assert served.branches_of_many(["C1"]) == {"C1": frozenset({"B1"})}
    _publish(ops, 2, ACTIVE, {"C1": "|B2|", "C2": "|B3|"}, {})
    with ops.begin() as con:
        con.execute(served_generation.update().where(served_generation.c.generation == 1).values(status=RETIRED))
    assert served.branches_of_many(["C1", "C2"]) == {"C1": frozenset({"B2"}), "C2": frozenset({"B3"})}
