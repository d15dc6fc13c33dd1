"""Policy versions in the operational store, on SQLite and PostgreSQL: versioning, export, history, audit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from custodata.access import actions as A
from custodata.access import store as store_module
from custodata.access.policy_document import default_document_yaml
from custodata.access.store import PolicyStore
from custodata.audit.events import Action, MemorySink
from custodata.errors import ConfigError, NotFoundError, StateError
from custodata.ops import OpsStore, open_ops
from tests.test_access_engine import OFFICE_HOURS, Person


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    store = open_ops(ops_url)
    yield store
    store.close()


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# marketers reach only their portfolio in the edited policy
MARKETER_ROWS = ("\n    marketer: branch\n", "\n    marketer: portfolio\n")


def test_seed_import_export_history(ops: OpsStore) -> None:
    sink = MemorySink()
    policies = PolicyStore(ops, sink)
    with pytest.raises(StateError, match="no policy yet"):
        policies.current()
    assert policies.history() == []
    assert policies.seed_default(by="installer") == 1
    assert policies.seed_default(by="installer") == 1  # idempotent
    assert len(sink.events) == 1
    default = default_document_yaml()
    assert policies.export_yaml() == default
    assert policies.current().version == 1

    text = edited(policies.export_yaml(), *MARKETER_ROWS)
    assert policies.import_yaml(text, by="sec1", comment="CHG-42 marketers by portfolio") == 2
    assert policies.export_yaml() == text            # round trip, comments and all
    assert policies.export_yaml(1) == default
    assert policies.refresh().version == 2
    assert policies.current().row_scope(Person("m", "marketer")) == "portfolio"

    history = policies.history()
    assert [h.version for h in history] == [1, 2]
    assert [h.created_by for h in history] == ["installer", "sec1"]
    assert history[1].comment == "CHG-42 marketers by portfolio"
    assert history[1].sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert history[1].created_at.tzinfo is None

    event = sink.events[-1]
    assert event.action == Action.POLICY_CHANGE
    assert event.actor == "sec1"
    assert event.detail == {"version": 2, "sha256": history[1].sha256, "comment": "CHG-42 marketers by portfolio",
                            "changed": ["access.rows"], "previous_version": 1}
    diff = policies.diff(1, 2)
    assert diff.startswith("--- policy version 1\n+++ policy version 2\n")
    assert "\n-    marketer: branch\n+    marketer: portfolio\n" in diff


def test_same_text_again_is_not_a_new_version(ops: OpsStore) -> None:
    sink = MemorySink()
    policies = PolicyStore(ops, sink)
    policies.seed_default(by="installer")
    assert policies.import_yaml(default_document_yaml(), by="sec1", comment="again") == 1
    assert len(sink.events) == 1 and len(policies.history()) == 1


def test_invalid_documents_are_not_stored(ops: OpsStore) -> None:
    sink = MemorySink()
    policies = PolicyStore(ops, sink)
    policies.seed_default(by="installer")
    bad = edited(default_document_yaml(), "\n    marketer: branch\n", "\n    marketer: everywhere\n")
    with pytest.raises(ConfigError, match=r"policy version 2 \(import\): access: key 'rows.marketer'"):
        policies.import_yaml(bad, by="sec1", comment="typo")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        policies.import_yaml("version: 1\nmasking: [\n", by="sec1", comment="broken")
    with pytest.raises(StateError, match="comment"):
        policies.import_yaml(default_document_yaml(), by="sec1", comment=" ")
    assert [h.version for h in policies.history()] == [1]
    assert len(sink.events) == 1


def test_current_picks_up_a_version_stored_by_another_process(ops: OpsStore) -> None:
    clock = Clock()
    serving = PolicyStore(ops, MemorySink(), recheck_seconds=1.0, clock=clock)
    admin = PolicyStore(ops, MemorySink())
    admin.seed_default(by="installer")
    first = serving.current()
    assert first.version == 1
    admin.import_yaml(edited(admin.export_yaml(), *MARKETER_ROWS), by="sec1", comment="narrow marketers")
    # within the re-check interval the cached engine answers without asking the store
    clock.now += 0.5
    assert serving.current() is first
    clock.now += 0.6
    second = serving.current()
    assert second.version == 2 and second is not first
    assert serving.current() is second
    # a past version stays available, e.g. to explain a decision logged under it
    assert serving.engine(1).row_scope(Person("m", "marketer")) == "branch"


def test_policy_change_takes_effect_in_decisions(ops: OpsStore) -> None:
    policies = PolicyStore(ops, MemorySink())
    policies.seed_default(by="installer")
    marketer = Person("m", "marketer")
    assert policies.current().check(marketer, A.EXPORT_REQUEST, at=OFFICE_HOURS).allowed
    text = edited(policies.export_yaml(), "    - id: deny-external-export\n",
                  "    - id: deny-marketing-exports\n      roles: [marketer]\n      actions: [export.*]\n"
                  "    - id: deny-external-export\n")
    policies.import_yaml(text, by="sec1", comment="campaign freeze")
    d = policies.refresh().check(marketer, A.EXPORT_REQUEST, at=OFFICE_HOURS)
    assert (d.allowed, d.rule) == (False, "deny-marketing-exports")


def test_unknown_version(ops: OpsStore) -> None:
    policies = PolicyStore(ops, MemorySink())
    with pytest.raises(NotFoundError, match="no policy yet"):
        policies.export_yaml()
    policies.seed_default(by="installer")
    with pytest.raises(NotFoundError, match="no policy version 9"):
        policies.export_yaml(9)


def test_concurrent_seeding_stores_one_version(ops: OpsStore) -> None:
    sink = MemorySink()
    stores = [PolicyStore(ops, sink) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda p: p.seed_default(by="installer"), stores))
    assert versions == [1, 1, 1, 1]
    assert len(stores[0].history()) == 1 and len(sink.events) == 1


def test_an_import_racing_another_is_refused(ops: OpsStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = MemorySink()
    mine, theirs = PolicyStore(ops, sink), PolicyStore(ops, sink)
    mine.seed_default(by="installer")
    text = edited(mine.export_yaml(), *MARKETER_ROWS)
    real = store_module.changed_sections

    def someone_else_first(old: Any, new: Any) -> list[str]:
        # while `mine` is between checking and storing, another change lands
        monkeypatch.setattr(store_module, "changed_sections", real)
        theirs.import_yaml(text + "# theirs\n", by="sec2", comment="theirs")
        return real(old, new)

    monkeypatch.setattr(store_module, "changed_sections", someone_else_first)
    with pytest.raises(StateError, match="policy version 2 was stored while this import was being checked"):
        mine.import_yaml(text, by="sec1", comment="mine")
    assert [(h.version, h.created_by) for h in mine.history()] == [(1, "installer"), (2, "sec2")]
    assert [e.actor for e in sink.events] == ["installer", "sec2"]
