"""Change events to the broker: publisher throughput and change event → broker latency (issue 11 point 4).

    python benchmarks/changes.py [--events N] [--rate R] [--seconds S] [--engines sqlite,postgresql]

Throughput: N events (default 20,000) are written to a fresh outbox, then one
publisher (``custodata.changes.publisher.Publisher``: persistent messages, publisher
confirms, cursor after each page) delivers them all to the RabbitMQ of this machine;
events per second over the whole drain.  Latency: with the publisher following the
outbox (poll 0.1 s, the CLI's default), a writer commits R events per second (one per
transaction, like a steward change) for S seconds and a consumer on the queue measures
from each event's commit time (``occurred_at``) to its arrival: p50, p95, max.
Scratch databases, exchanges and queues are removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pika
import sqlalchemy as sa

from custodata.changes.outbox import ChangeEvent, record_changes
from custodata.changes.publisher import Publisher
from custodata.ops import OpsStore, open_ops

AMQP = os.environ.get("CUSTODATA_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_ADMIN = os.environ.get("CUSTODATA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def _store(engine: str) -> Iterator[OpsStore]:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            ops = open_ops(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
            try:
                yield ops
            finally:
                ops.close()
        return
    name = f"cd_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.exec_driver_sql(f'CREATE DATABASE "{name}"')
    ops = open_ops(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield ops
    finally:
        ops.close()
        with admin.connect() as con:
            con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def _broker() -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    exchange, queue = f"bench.changes.{suffix}", f"bench.changes.q.{suffix}"
    try:
        yield exchange, queue
    finally:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()


def throughput(engine: str, events: int) -> dict[str, Any]:
    with _store(engine) as ops, _broker() as (exchange, queue):
        for start in range(0, events, 1_000):
            with ops.begin() as con:
                record_changes(con, [ChangeEvent("corrected", f"C{i:09d}", ["address", "mobile"])
                                     for i in range(start, min(start + 1_000, events))])
        publisher = Publisher(ops, AMQP, exchange=exchange, queue=queue, batch=200)
        publisher.connect()
        t0 = time.perf_counter()
        sent = publisher.publish_pending()
        seconds = time.perf_counter() - t0
        publisher.close()
    return {"engine": engine, "events": sent, "seconds": round(seconds, 2), "events_per_s": round(sent / seconds)}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(engine: str, rate: float, seconds: float) -> dict[str, Any]:
    with _store(engine) as ops, _broker() as (exchange, queue):
        publisher = Publisher(ops, AMQP, exchange=exchange, queue=queue)
        publisher.connect()  # declares the queue before the consumer looks
        stop = threading.Event()
        runner = threading.Thread(target=publisher.run, kwargs={"poll": 0.1, "stop": stop.is_set}, daemon=True)
        runner.start()
        delays: list[float] = []
        expected = int(rate * seconds)

        def consume() -> None:
            connection = pika.BlockingConnection(pika.URLParameters(AMQP))
            channel = connection.channel()
            for method, _props, body in channel.consume(queue, auto_ack=True, inactivity_timeout=5):
                if method is None:
                    break
                at = dt.datetime.fromisoformat(json.loads(body)["occurred_at"].rstrip("Z"))
                delays.append((dt.datetime.now(dt.UTC).replace(tzinfo=None) - at).total_seconds())
                if len(delays) >= expected:
                    break
            channel.cancel()
            connection.close()

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        for i in range(expected):
            due = time.perf_counter() + 1 / rate
            with ops.begin() as con:
                record_changes(con, [ChangeEvent("corrected", f"C{i % 5000:09d}", ["address"])])
            time.sleep(max(0.0, due - time.perf_counter()))
        consumer.join(60)
        stop.set()
        runner.join(10)
        publisher.close()
    return {"engine": engine, "events": len(delays), "rate_per_s": rate,
            "p50_ms": round(_pct(delays, 0.5) * 1000), "p95_ms": round(_pct(delays, 0.95) * 1000),
            "max_ms": round(max(delays) * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    for engine in args.engines.split(","):
        t = throughput(engine, args.events)
        print(f"{engine:10s} publisher: {t['events']:,} events in {t['seconds']} s = {t['events_per_s']:,} events/s "
              "(persistent, confirmed)")
        lat = latency(engine, args.rate, args.seconds)
        print(f"{engine:10s} change event -> broker at {lat['rate_per_s']:g}/s: p50 {lat['p50_ms']} ms, "
              f"p95 {lat['p95_ms']} ms, max {lat['max_ms']} ms ({lat['events']} events)")


if __name__ == "__main__":
    main()
