"""Change events for the systems downstream (issue 11 point 4), on SQLite and PostgreSQL.

The outbox is written in the served view's swap transaction (a failed publish leaves
no event), events name fields and ids but never a value, the pull feed pages by
cursor, and the publisher delivers to the real RabbitMQ of this machine at least once:
killed with SIGKILL mid-stream and restarted, it loses nothing, and every duplicate
carries the same message_id (the event's idempotency key).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from custodata.changes.diff import full_publish_changes
from custodata.changes.feed import read_page
from custodata.changes.outbox import ChangeEvent, record_changes
from custodata.changes.publisher import get_cursor
from custodata.changes.tables import change_event
from custodata.cli.app import app
from custodata.demo.sources import generate
from custodata.engine.store import open_store
from custodata.ops import open_ops
from custodata.ops.store import OpsStore
from custodata.pipeline import Pipeline
from custodata.serving import publish_served
from custodata.serving.tables import served_generation

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
NEW_ADDRESS = "上海市浦东新区世纪大道8888号变更测试苑7栋"
NEW_MOBILE = "13987654321"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small pipeline run; tests that change it work on a copy."""
    out = tmp_path_factory.mktemp("changes") / "out"
    generate(40, 5, out / "raw")
    previous = os.environ.pop("CUSTODATA_DB_URL", None)
    try:
        Pipeline.create(out).run(out / "raw")
    finally:
        if previous is not None:
            os.environ["CUSTODATA_DB_URL"] = previous
    return out


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    store = open_ops(ops_url)
    yield store
    store.close()


def _copy(world: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(world, out, ignore=shutil.ignore_patterns("raw", "custodata.sqlite*"))
    return out


def _deriving(pipeline: Pipeline, derive: str, ops_url: str | None = None) -> Pipeline:
    """Steward changes served ``derive``-wise: ``full`` through ``publish_served`` and its diff,
    ``incremental`` through ``publish_customers`` (the default)."""
    pipeline.derive = derive
    if ops_url is not None:
        pipeline.ops_url = ops_url
    return pipeline


def _rows(ops: OpsStore) -> list[dict[str, Any]]:
    with ops.read() as con:
        return [dict(r._mapping) for r in con.execute(sa.select(change_event).order_by(change_event.c.seq))]


def _active(ops: OpsStore) -> int | None:
    with ops.read() as con:
        return con.execute(sa.select(served_generation.c.generation)
                           .where(served_generation.c.status == "active")).scalar()


def _person(out: Path) -> tuple[str, str]:
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        rows = store.con.execute("SELECT customer_id FROM customer.golden WHERE kind = 'individual' "
                                 "AND mobile IS NOT NULL ORDER BY customer_id LIMIT 2").fetchall()
    finally:
        store.close()
    return str(rows[0][0]), str(rows[1][0])


def test_events_commit_with_the_publish_and_a_failed_publish_leaves_none(world: Path, ops: OpsStore) -> None:
    """Attack: events that say a change happened when it did not (or miss one that did) — a publish
    whose swap fails must leave neither the new generation nor any event, and one that commits
    must leave its events."""
    store = open_store(world / "custodata.duckdb", read_only=True)
    try:
        first = publish_served(store, ops, run_id="R-first")
        assert [(r["kind"], r["generation"]) for r in _rows(ops)] == [("published", first.generation)]

        def failing(o: OpsStore, generation: int, run_id: str | None) -> Any:
            write = full_publish_changes(o, generation, run_id)

            def write_then_fail(con: sa.Connection) -> None:
                write(con)  # the events are in the transaction ...
                raise RuntimeError("the swap fails after the events were written")

            return write_then_fail

        with pytest.raises(RuntimeError, match="swap fails"):
            publish_served(store, ops, run_id="R-failed", changes=failing)
        assert [r["run_id"] for r in _rows(ops)] == ["R-first"]  # ... and left with it
        assert _active(ops) == first.generation

        second = publish_served(store, ops, run_id="R-second")
        assert [(r["kind"], r["generation"]) for r in _rows(ops)][-1] == ("published", second.generation)
        assert _active(ops) == second.generation
        silent = publish_served(store, ops, changes=None)
        assert _active(ops) == silent.generation and len(_rows(ops)) == 2
    finally:
        store.close()


@pytest.mark.parametrize("derive", ["full", "incremental"])
def test_steward_changes_write_events_by_field_name_never_a_value(
    world: Path, tmp_path: Path, ops_url: str, monkeypatch: pytest.MonkeyPatch, derive: str,
) -> None:
    """Attack: the change feed (read by systems outside the masking policy) leaking the values that
    changed — events must name the fields, the ids merged or split and nothing the customer's
    data holds: no row of the outbox contains the new address or mobile in plain.  Served in
    place (``incremental``), a change still writes its events."""
    out = _copy(world, tmp_path)
    monkeypatch.setenv("CUSTODATA_DB_URL", ops_url)
    pipeline = _deriving(Pipeline.create(out), derive)
    store = pipeline.open()
    try:
        pipeline.publish(store)
    finally:
        store.close()
    a, b = _person(out)
    pipeline.steward("correct", customer_id=a, field="address", value=NEW_ADDRESS, reason="moved", by="steward")
    pipeline.steward("correct", customer_id=a, field="mobile", value=NEW_MOBILE, reason="new phone", by="steward")
    pipeline.steward("merge", survivor=a, absorbed=b, reason="same person")
    pipeline.erase(a, reason="PIPL request")
    ops = open_ops(ops_url)
    try:
        rows = _rows(ops)
    finally:
        ops.close()
    mine = [r for r in rows if r["customer_id"] == a]
    assert [r["kind"] for r in mine] == ["corrected", "corrected", "merged", "erased"]
    assert [r["version"] for r in mine] == [1, 2, 3, 4]
    assert "address" in json.loads(mine[0]["fields"]) and "mobile" in json.loads(mine[1]["fields"])
    assert json.loads(mine[2]["ids"]) == {"merged": [b]}
    absorbed = [r for r in rows if r["customer_id"] == b]
    assert absorbed[-1]["kind"] == "merged" and json.loads(absorbed[-1]["ids"]) == {"merged_into": a}
    # a whole new generation per change in full; served in place, only the first publish made one
    assert sum(r["kind"] == "published" for r in rows) == (5 if derive == "full" else 1)
    assert len({r["event_id"] for r in rows}) == len(rows)
    text = json.dumps(rows, default=str, ensure_ascii=False)
    for value in (NEW_ADDRESS, NEW_MOBILE, "世纪大道8888号", NEW_MOBILE[-8:]):
        assert value not in text, value


@pytest.fixture(params=["sqlite", "postgresql"])
def two_ops_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh operational stores on one engine: one per derivation path."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'full.sqlite'}", f"sqlite:///{tmp_path / 'incremental.sqlite'}"
        return
    from tests.conftest import _drop_pg_database, _fresh_pg_database

    (a, url_a), (b, url_b) = _fresh_pg_database(), _fresh_pg_database()
    try:
        yield url_a, url_b
    finally:
        _drop_pg_database(a)
        _drop_pg_database(b)


def _stream_without_cursor(ops_url: str) -> list[tuple[Any, ...]]:
    """The per-customer events as a consumer acts on them: no seq, event_id, time, nor generation
    (a full publish numbers a new one per change, served in place the generation stays)."""
    ops = open_ops(ops_url)
    try:
        rows = _rows(ops)
    finally:
        ops.close()
    return [(r["kind"], r["customer_id"], r["version"], json.loads(r["fields"]), json.loads(r["ids"]), r["run_id"])
            for r in rows if r["kind"] != "published"]


def test_a_change_emits_the_same_events_served_in_full_or_in_place(
    world: Path, tmp_path: Path, two_ops_urls: tuple[str, str],
) -> None:
    """Attack: a system downstream kept stale by the default path — corrections, merges, unmerges
    and erasures served in place (``derive="incremental"``) once wrote no change event at all, so
    the CRM never heard of them.  The same steward sequence on two copies, one republished in
    full and one served in place, must leave the same events: kind, customer, version, fields
    and ids."""
    streams = []
    for derive, url in zip(("full", "incremental"), two_ops_urls, strict=True):
        out = tmp_path / derive
        shutil.copytree(world, out, ignore=shutil.ignore_patterns("raw", "custodata.sqlite*"))
        pipeline = _deriving(Pipeline.create(out), derive, url)
        store = pipeline.open()
        try:
            pipeline.publish(store)
        finally:
            store.close()
        a, b = _person(out)
        pipeline.steward("correct", customer_id=a, field="address", value=NEW_ADDRESS, reason="moved", by="steward")
        pipeline.steward("merge", survivor=a, absorbed=b, reason="same person")
        pipeline.steward("unmerge", customer_id=a, reason="different people")
        pipeline.erase(b, reason="PIPL request")
        streams.append(_stream_without_cursor(url))
    full, incremental = streams
    assert {e[0] for e in full} >= {"corrected", "merged", "unmerged", "erased"}, full
    assert incremental == full
    mine = [e for e in incremental if e[1] == b]
    assert [e[0] for e in mine][-3:] == ["merged", "unmerged", "erased"]
    assert mine[-3][4] == {"merged_into": a} and mine[-2][4] == {"split_from": a}


def test_the_feed_pages_by_cursor(ops: OpsStore, tmp_path: Path) -> None:
    """Attack: a consumer that follows the cursor missing or repeating events — pages after a cursor
    give every event once, in seq order, and an empty page keeps the cursor."""
    with ops.begin() as con:
        record_changes(con, [ChangeEvent("corrected", f"C{i:09d}", ["address"]) for i in range(1, 21)])
    with ops.begin() as con:
        record_changes(con, [ChangeEvent("corrected", "C000000001", ["mobile"]),
                             ChangeEvent("published", generation=7)])
    seen, cursor = [], 0
    while True:
        page = read_page(ops, after=cursor, limit=6)
        seen.extend(page.events)
        if not page.events:
            assert page.next == cursor and not page.more
            break
        cursor = page.next
    assert [e.seq for e in seen] == sorted({e.seq for e in seen}) and len(seen) == 22
    assert [e.version for e in seen if e.customer_id == "C000000001"] == [1, 2]
    result = CliRunner().invoke(app, ["changes", "follow", "--db", ops.url, "--once", "--after", str(seen[19].seq)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["kind"], e["fields"]) for e in lines] == [("corrected", ["mobile"]), ("published", [])]
    assert lines[0]["event_id"] == seen[20].event_id


# ---- the publisher against the real RabbitMQ of this machine ----------------------------------

EVENTS = 1_500


def _broker() -> Any:
    import pika

    try:
        return pika.BlockingConnection(pika.URLParameters(AMQP))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"RabbitMQ is not reachable at 127.0.0.1:5672 (scripts/ensure-services.sh starts it): {exc}")


def _depth(channel: Any, queue: str) -> int:
    return int(channel.queue_declare(queue=queue, durable=True, passive=True).method.message_count)


def _publisher(ops_url: str, exchange: str, queue: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "custodata.cli", "changes", "publish", "--db", ops_url, "--amqp", AMQP,
         "--exchange", exchange, "--queue", queue, "--batch", "40", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_publisher_killed_mid_stream_loses_nothing_and_duplicates_keep_their_key(ops: OpsStore) -> None:
    """Attack: a publisher crash (kill -9) losing events the broker never got, or a restart sending
    copies a consumer cannot recognise — after SIGKILL mid-stream and a restart every event is in
    the queue, and a copy has the same message_id and body as the original."""
    for start in range(0, EVENTS, 500):
        with ops.begin() as con:
            record_changes(con, [ChangeEvent("corrected", f"C{i:09d}", ["address"]) for i in range(start, start + 500)])
    want = {r["event_id"]: r["seq"] for r in _rows(ops)}
    suffix = uuid.uuid4().hex[:8]
    exchange, queue = f"test.changes.{suffix}", f"test.changes.q.{suffix}"
    connection = _broker()
    channel = connection.channel()
    try:
        first = _publisher(ops.url, exchange, queue)
        deadline = time.monotonic() + 60
        while True:
            try:
                if _depth(channel, queue) >= 200:
                    break
            except Exception:  # noqa: BLE001 — the publisher has not declared the queue yet
                channel = connection.channel()
            assert first.poll() is None, (first.stderr.read() if first.stderr else b"").decode()
            assert time.monotonic() < deadline, "the publisher delivered nothing in 60 s"
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        if first.stderr is not None:
            first.stderr.close()
        assert first.returncode == -signal.SIGKILL
        killed_at = get_cursor(ops)
        assert killed_at < max(want.values()), "killed after it had finished: not mid-stream"

        second = _publisher(ops.url, exchange, queue, "--once")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()
        assert get_cursor(ops) == max(want.values())

        bodies: dict[str, set[bytes]] = {}
        received = 0
        for method, properties, body in channel.consume(queue, inactivity_timeout=2):
            if method is None:
                break
            assert properties.delivery_mode == 2 and properties.content_type == "application/json"
            assert json.loads(body)["event_id"] == properties.message_id
            bodies.setdefault(properties.message_id, set()).add(body)
            received += 1
            channel.basic_ack(method.delivery_tag)
        channel.cancel()
        assert set(bodies) == set(want)  # no event lost, nothing unknown
        assert all(len(b) == 1 for b in bodies.values())  # a duplicate is the same message under the same key
        assert received >= len(want)
    finally:
        try:
            channel.queue_delete(queue)
            channel.exchange_delete(exchange)
        finally:
            connection.close()


def test_publisher_refuses_an_unroutable_event_and_an_unreachable_broker(ops: OpsStore) -> None:
    """Attack: events silently dropped — by an exchange no queue is bound to, or a broker that is
    down: the publisher stops with one clear line and its cursor stays where it was."""
    with ops.begin() as con:
        record_changes(con, [ChangeEvent("corrected", "C000000001", ["address"])])
    exchange = f"test.unbound.{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    result = runner.invoke(app, ["changes", "publish", "--db", ops.url, "--amqp", AMQP, "--exchange", exchange,
                                 "--once"])
    assert result.exit_code == 1 and "reached no queue" in result.output and "Traceback" not in result.output
    assert get_cursor(ops) == 0
    down = runner.invoke(app, ["changes", "publish", "--db", ops.url, "--amqp",
                               "amqp://guest:hunter2@127.0.0.1:5999/%2F", "--once"])
    assert down.exit_code == 1 and "cannot be reached" in down.output and "hunter2" not in down.output
    connection = _broker()
    try:
        connection.channel().exchange_delete(exchange)
    finally:
        connection.close()
