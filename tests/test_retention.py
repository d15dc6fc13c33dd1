"""Retention by purpose (issue 16 point 6) on SQLite and PostgreSQL.

Expired customers are erased through the erasure path (keys destroyed, out of the served
view), expired ticket remarks are blanked and served again, cold history moves to an
archive whose values only the customer's key opens; held customers keep everything; every
step is audited; the report says what expires when; a second run changes nothing; the
policy file is refused naming the key.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from custodata.audit.tables import audit_event
from custodata.crypto.keyring import customer_key_id
from custodata.demo.sources import generate
from custodata.engine.store import open_store
from custodata.errors import ConfigError, CryptoError
from custodata.jobs.retention import (
    OPERATION_ANONYMISE,
    OPERATION_ARCHIVE,
    OPERATION_ERASE,
    OPERATION_HELD,
    OPERATION_HOLD,
    OPERATION_RELEASE,
    OPERATION_RUN,
    RetentionJob,
    archive_aad,
)
from custodata.ops import open_ops
from custodata.pipeline import Pipeline
from custodata.retention import HoldRefused, expiry_report, load_policy
from custodata.retention.expiry import field_expiry, personal_expiry
from custodata.retention.report import DUE_NOW
from custodata.serving.publish import publish_served
from custodata.serving.tables import served_customer, served_generation

POLICY = """
version: 1
timezone: Asia/Shanghai
rules:
  - id: closed-policy-personal
    label: 已终止保单的个人信息
    category: personal
    action: erase
    business_types: [auto_policy, accident_policy, health_policy]
    after: end_date
    keep: {years: 5}
  - id: closed-ticket-remark
    label: 已关闭客服工单的备注
    category: fields
    action: anonymise
    business_types: [service]
    when: {status: [已关闭]}
    fields: [remark]
    after: start_date
    keep: {months: 12}
  - id: golden-history
    label: 客户黄金记录变更历史
    category: history
    action: archive
    keep: {years: 3}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("retention-world") / "out"
    generate(60, 5, out / "raw")
    Pipeline.create(out).run(out / "raw")
    return out


@dataclass
class Site:
    out: Path
    url: str
    policy: Path


@pytest.fixture
def site(world: Path, ops_url: str, tmp_path: Path) -> Site:
    out = tmp_path / "out"
    shutil.copytree(world, out, ignore=shutil.ignore_patterns("*.spill", "custodata.sqlite*"))
    ops = open_ops(ops_url, out_dir=out)
    batch = open_store(out / "custodata.duckdb", read_only=True)
    try:
        publish_served(batch, ops)
    finally:
        batch.close()
        ops.close()
    policy = tmp_path / "retention.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    return Site(out, ops_url, policy)


def _served(site: Site) -> dict[str, dict]:
    ops = open_ops(site.url, out_dir=site.out)
    try:
        with ops.read() as con:
            gen = con.execute(sa.select(sa.func.max(served_generation.c.generation))
                              .where(served_generation.c.status == "active")).scalar()
            return {r.customer_id: json.loads(r.doc) for r in con.execute(
                sa.select(served_customer.c.customer_id, served_customer.c.doc)
                .where(served_customer.c.generation == gen))}
    finally:
        ops.close()


def _events(site: Site) -> list[dict]:
    ops = open_ops(site.url, out_dir=site.out)
    try:
        with ops.read() as con:
            rows = con.execute(sa.select(audit_event.c.actor, audit_event.c.result, audit_event.c.customer_ids,
                                         audit_event.c.detail).order_by(audit_event.c.seq)).all()
    finally:
        ops.close()
    return [{"actor": a, "result": r, "customers": json.loads(c), **json.loads(d)} for a, r, c, d in rows]


def _ops(events: list[dict], operation: str) -> list[dict]:
    return [e for e in events if e.get("operation") == operation]


def _remarks(out: Path, keys: list[str]) -> list[object]:
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        return [r[0] for r in store.engine.rows(
            "SELECT remark FROM business.service WHERE list_contains(?, _source || ':' || record_key)", [keys])]
    finally:
        store.close()


def test_retention_apply(site: Site) -> None:
    policy = load_policy(site.policy)
    job = RetentionJob(site.out, ops_url=site.url, policy_file=site.policy, actor="job:retention")
    store = open_store(site.out / "custodata.duckdb")
    try:
        people = personal_expiry(store.engine, policy)
        dates = sorted({d.expires_on for d in people})
        as_of = dates[1]  # the two earliest expiry dates are due
        due = sorted(str(d.customer_id) for d in people if d.expires_on <= as_of)
        tickets = [d for d in field_expiry(store.engine, policy)
                   if d.expires_on <= as_of and d.customer_id and str(d.customer_id) not in due]
        # cold history: some customers' history is moved four years back
        with_history = [str(r[0]) for r in store.engine.rows(
            "SELECT DISTINCT customer_id FROM customer.history WHERE NOT list_contains(?, customer_id) "
            "ORDER BY 1 LIMIT 3", [due])]
        store.engine.execute("UPDATE customer.history SET changed_at = changed_at - INTERVAL 4 YEAR "
                             "WHERE list_contains(?, customer_id)", [with_history])
        old_history = {(str(c), str(f)): str(v) for c, f, v in store.engine.rows(
            "SELECT customer_id, field, new_value FROM customer.history WHERE list_contains(?, customer_id) "
            "AND new_value IS NOT NULL", [with_history])}
    finally:
        store.close()
    assert len(due) >= 2 and tickets and len(with_history) == 3
    kept, gone = due[0], due[1:]
    ticket_held = tickets[0]
    held_ticket_owner = str(ticket_held.customer_id)
    history_held = with_history[0]

    # legal holds: the officer places them; the same person cannot lift one
    officer = RetentionJob(site.out, ops_url=site.url, policy_file=site.policy, actor="cli:officer")
    hold = officer.place_hold(kept, case_ref="INV-2026-001", reason="反洗钱调查")
    officer.place_hold(held_ticket_owner, case_ref="INV-2026-002", reason="诉讼")
    if history_held not in (kept, held_ticket_owner):
        officer.place_hold(history_held, case_ref="INV-2026-003", reason="诉讼")
    with pytest.raises(HoldRefused):
        officer.release_hold(hold.hold_id, reason="结案")

    # the report: what expires when, held customers counted apart
    store = open_store(site.out / "custodata.duckdb", read_only=True)
    try:
        lines = expiry_report(store.engine, policy, as_of, months=12)
    finally:
        store.close()
    now = [ln for ln in lines if ln.rule_id == "closed-policy-personal" and ln.when == DUE_NOW]
    assert len(now) == 1 and now[0].customers == len(due) and now[0].held == 1
    assert now[0].first_date == dates[0] and now[0].category == "个人信息"
    later = [ln for ln in lines if ln.rule_id == "closed-policy-personal" and ln.when != DUE_NOW]
    assert all(ln.first_date > as_of and ln.when == f"{ln.first_date:%Y-%m}" for ln in later)
    remark_now = [ln for ln in lines if ln.rule_id == "closed-ticket-remark" and ln.when == DUE_NOW]
    assert remark_now and remark_now[0].held >= 1
    history_now = [ln for ln in lines if ln.rule_id == "golden-history" and ln.when == DUE_NOW]
    assert history_now and history_now[0].customers == 3

    before = _served(site)
    outcome = job.apply(as_of)

    # expired customers erased through the erasure path; the held one kept
    assert sorted(c for c, _ in outcome.erased) == gone and outcome.held[kept] == hold.hold_id
    served = _served(site)
    assert kept in served and not set(gone) & served.keys()
    store = open_store(site.out / "custodata.duckdb", read_only=True)
    try:
        golden = {str(r[0]) for r in store.engine.rows("SELECT customer_id FROM customer.golden")}
        wrapped = dict(store.engine.rows("SELECT key_id, wrapped IS NOT NULL FROM meta.data_key WHERE "
                                         "list_contains(?, key_id)", [[customer_key_id(c) for c in due]]))
        assert kept in golden and not set(gone) & golden
        assert wrapped[customer_key_id(kept)] and not any(wrapped[customer_key_id(c)] for c in gone)
        # the archive: rows out of the store (held customer's stay), values open only with the customer's key
        left = {str(r[0]) for r in store.engine.rows("SELECT DISTINCT customer_id FROM customer.history WHERE "
                                                    "list_contains(?, customer_id)", [with_history])}
        assert left == {history_held}
        assert outcome.archive_file is not None and outcome.archive_file.exists()
        archived = pq.read_table(outcome.archive_file).to_pylist()
        assert {r["customer_id"] for r in archived} == set(with_history) - {history_held}
        assert outcome.archived_rows == len(archived)
        for r in archived:
            if r["new_value"] is None:
                continue
            assert r["new_value"] != old_history[(r["customer_id"], r["field"])]  # sealed, not plain
            assert store.protector.decrypt(r["new_value"], archive_aad(r["customer_id"], r["field"], "new_value")) \
                == old_history[(r["customer_id"], r["field"])]
    finally:
        store.close()

    # expired remarks blanked (all versions), served again without them; the held customer's ticket keeps it
    blanked = [d for d in tickets if str(d.customer_id) not in (kept, held_ticket_owner, history_held)
               and str(d.customer_id) not in gone]
    assert blanked and outcome.anonymised["closed-ticket-remark"] >= len(blanked)
    values = _remarks(site.out, [f"{d.source}:{d.record_key}" for d in blanked])
    assert values and all(v is None for v in values)
    assert all(r is not None for r in _remarks(site.out, [f"{ticket_held.source}:{ticket_held.record_key}"]))
    for d in blanked:
        records = [r for r in served[str(d.customer_id)]["records"] if r["record_key"] == d.record_key]
        old = [r for r in before[str(d.customer_id)]["records"] if r["record_key"] == d.record_key]
        assert records and all(r["remark"] is None for r in records) and any(r["remark"] for r in old)

    # every step audited
    events = _events(site)
    erased_events = _ops(events, OPERATION_ERASE)
    assert sorted(c for e in erased_events for c in e["customers"]) == gone
    assert all(e["rule"] == "closed-policy-personal" and e["keys_destroyed"] >= 1 for e in erased_events)
    assert kept in _ops(events, OPERATION_HELD)[-1]["customers"]
    anon = _ops(events, OPERATION_ANONYMISE)
    assert len(anon) == 1 and {str(d.customer_id) for d in blanked} <= set(anon[0]["customers"])
    assert held_ticket_owner not in anon[0]["customers"]
    assert _ops(events, OPERATION_ARCHIVE)[0]["rows"] == len(archived)
    assert [e["result"] for e in _ops(events, OPERATION_HOLD)] == ["ok"] * len(_ops(events, OPERATION_HOLD))
    assert [e["result"] for e in _ops(events, OPERATION_RELEASE)] == ["denied"]
    assert _ops(events, OPERATION_RUN)[-1]["erased"] == len(gone)

    # running again the same day changes nothing
    again = job.apply(as_of)
    assert not again.changed and again.held
    events2 = _events(site)
    for op in (OPERATION_ERASE, OPERATION_ANONYMISE, OPERATION_ARCHIVE):
        assert len(_ops(events2, op)) == len(_ops(events, op))
    assert len(_ops(events2, OPERATION_RUN)) == 2

    # another person lifts the hold: the next run erases the customer
    RetentionJob(site.out, ops_url=site.url, policy_file=site.policy, actor="cli:checker").release_hold(
        hold.hold_id, reason="结案")
    third = job.apply(as_of)
    assert [c for c, _ in third.erased] == [kept] and kept not in _served(site)
    store = open_store(site.out / "custodata.duckdb", read_only=True)
    try:
        with pytest.raises(CryptoError):
            store.protector.keyring.cipher(customer_key_id(kept))
    finally:
        store.close()


@pytest.mark.parametrize(("change", "message"), [
    (("rules", 0, "keep"), "key 'rules[0].keep'"),
    (("rules", 0, "category", "everything"), "key 'rules[0].category'"),
    (("rules", 0, "business_types", ["boats"]), "key 'rules[0].business_types[0]'"),
    (("rules", 1, "fields", ["name"]), "not a record field"),
    (("rules", 1, "action", "erase"), "handled by action 'anonymise'"),
    (("rules", 0, "after", "birth_date"), "key 'rules[0].after'"),
    (("rules", 1, "when", {"colour": ["red"]}), "cannot select records"),
    (("rules", 2, "keep", {"years": 0}), "longer than zero"),
    (("timezone", None, None, "Mars/Olympus"), "key 'timezone'"),
    (("rules", 0, "expire", 3), "unknown key"),
])
def test_policy_refused_naming_the_key(tmp_path: Path, change: tuple, message: str) -> None:
    import yaml

    data = yaml.safe_load(POLICY)
    if change[0] == "timezone":
        data["timezone"] = change[3]
    elif change[2] == "keep" and len(change) == 3:
        del data["rules"][change[1]]["keep"]
    else:
        data["rules"][change[1]][change[2]] = change[3]
    path = tmp_path / "retention.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_shipped_policy_loads_and_periods_clamp() -> None:
    policy = load_policy()
    assert {r.category for r in policy.rules} == {"personal", "fields", "history"}
    keep = policy.rules[0].keep.model_copy(update={"years": 0, "months": 1})
    assert keep.after(dt.date(2024, 1, 31)) == dt.date(2024, 2, 29)
    assert keep.before(dt.date(2024, 3, 31)) == dt.date(2024, 2, 29)


def test_cli(world: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from custodata.cli.app import app

    runner = CliRunner()
    for args in (["retention", "--help"], ["retention", "apply", "--help"], ["retention", "check"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert all(w in runner.invoke(app, ["retention", "check"]).output for w in ("匿名化", "个人信息", "历史记录"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.replace("keep: {months: 12}", "keep: {weeks: 3}"), encoding="utf-8")
    for args, message in (
        (["retention", "check", "--policy", str(bad)], "key 'rules[1].keep.weeks'"),
        (["retention", "report", "--out", "/nonexistent"], "no custodata store in /nonexistent"),
        (["retention", "report", "--out", str(world), "--as-of", "2026-13-01"], "--as-of"),
        (["retention", "release", "H-000", "--reason", "x", "--out", "/nonexistent"], "no custodata store"),
    ):
        result = runner.invoke(app, args)
        text = " ".join(result.output.split())  # the console wraps long lines
        assert result.exit_code == 1 and message in text and "Traceback" not in text, result.output
    result = runner.invoke(app, ["retention", "report", "--out", str(world), "--as-of", "2040-01-01", "--json"])
    assert result.exit_code == 0, result.output
    rules = {json.loads(chunk)["rule_id"] for chunk in result.output.replace("}\n{", "}\x00{").split("\x00")
             if chunk.strip()}
    assert {"closed-policy-personal", "closed-ticket-remark", "golden-history"} <= rules


def test_failed_batch_is_redone_one_by_one(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = load_policy(site.policy)
    store = open_store(site.out / "custodata.duckdb", read_only=True)
    try:
        people = personal_expiry(store.engine, policy)
    finally:
        store.close()
    as_of = sorted({d.expires_on for d in people})[0]
    due = sorted(str(d.customer_id) for d in people if d.expires_on <= as_of)

    def broken(self: RetentionJob, batch: list, outcome: object) -> list:
        raise RuntimeError("batch failed")

    monkeypatch.setattr(RetentionJob, "_erase_batch", broken)
    outcome = RetentionJob(site.out, ops_url=site.url, policy_file=site.policy).apply(as_of)
    assert sorted(c for c, _ in outcome.erased) == due and not outcome.failed
    assert not set(due) & _served(site).keys()
    assert sorted(c for e in _ops(_events(site), OPERATION_ERASE) for c in e["customers"]) == due
