"""Delivering the outbox to a message broker (RabbitMQ, AMQP 0-9-1), at least once, resuming from a cursor.

Each event is published to a durable topic exchange as a persistent message whose
``message_id`` is the event's ``event_id`` — the idempotency key a consumer
deduplicates on — with routing key ``customer.<kind>`` and the feed's JSON as body.
The channel is in confirm mode: an event counts as delivered only once the broker
has confirmed it (taken responsibility for it), and it is published ``mandatory``,
so an event no queue would receive is an error, never silently dropped.

The cursor (``change_cursor``, one row per publisher name) is advanced in the
operational store only after the broker confirmed everything up to it.  A publisher
killed at any moment therefore restarts at its cursor and publishes again what was
confirmed but not yet recorded: duplicates, with the same ``message_id``, and no loss.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from custodata.changes.outbox import StoredEvent, read_events
from custodata.changes.tables import change_cursor
from custodata.errors import CustodataError
from custodata.ops.store import OpsStore

EXCHANGE = "custodata.changes"
DEFAULT_NAME = "amqp"


class BrokerError(ConnectionError, CustodataError):
    """The broker cannot be reached, refused an event, or routed it to no queue."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def redacted(url: str) -> str:
    """An AMQP URL fit for a message: never its password."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, cred = head.partition("://")
    user = cred.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"


# ---- the cursor ---------------------------------------------------------------------------------

def get_cursor(ops: OpsStore, name: str = DEFAULT_NAME) -> int:
    """The last ``seq`` the broker confirmed for publisher ``name`` (0: none yet)."""
    with ops.read() as con:
        value = con.execute(sa.select(change_cursor.c.seq).where(change_cursor.c.name == name)).scalar()
    return int(value or 0)


def advance_cursor(ops: OpsStore, seq: int, name: str = DEFAULT_NAME) -> None:
    """Move the cursor forward to ``seq`` (never back)."""
    with ops.begin() as con:
        done = con.execute(sa.update(change_cursor).where(change_cursor.c.name == name, change_cursor.c.seq < seq)
                           .values(seq=seq, updated_at=_utcnow())).rowcount
        if not done and con.execute(sa.select(change_cursor.c.seq)
                                    .where(change_cursor.c.name == name)).scalar() is None:
            con.execute(change_cursor.insert().values(name=name, seq=seq, updated_at=_utcnow()))


# ---- the broker -----------------------------------------------------------------------------------

@dataclass
class Publisher:
    """One publisher: reads the outbox after its cursor, publishes with confirms, then records the cursor."""

    ops: OpsStore
    url: str
    exchange: str = EXCHANGE
    queue: str | None = None  # also declare this durable queue, bound to every event (convenient for one consumer)
    name: str = DEFAULT_NAME
    batch: int = 200
    on_confirm: Callable[[StoredEvent], None] | None = None  # called after each confirm (benchmarks)
    _connection: Any = None
    _channel: Any = None

    def connect(self) -> None:
        import pika
        from pika import exceptions

        try:
            self._connection = pika.BlockingConnection(pika.URLParameters(self.url))
            channel = self._connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(exchange=self.exchange, exchange_type="topic", durable=True)
            if self.queue:
                channel.queue_declare(queue=self.queue, durable=True)
                channel.queue_bind(queue=self.queue, exchange=self.exchange, routing_key="#")
        except exceptions.AMQPError as exc:
            self.close()
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise BrokerError(f"the broker at {redacted(self.url)} cannot be reached or used ({why})") from None
        self._channel = channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001,S110 — closing a broken connection: nothing left to do
                pass

    def _publish(self, event: StoredEvent) -> None:
        import pika
        from pika import exceptions

        properties = pika.BasicProperties(
            message_id=event.event_id, delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json", type=event.kind, timestamp=int(time.time()),
            headers={"seq": event.seq},
        )
        body = json.dumps(event.public(), ensure_ascii=False).encode("utf-8")
        try:
            self._channel.basic_publish(exchange=self.exchange, routing_key=f"customer.{event.kind}", body=body,
                                        properties=properties, mandatory=True)
        except exceptions.UnroutableError:
            raise BrokerError(f"event {event.seq} reached no queue: bind a queue to exchange {self.exchange!r} "
                              "(or give --queue)") from None
        except exceptions.NackError:
            raise BrokerError(f"the broker refused event {event.seq} (nack); it is published again next time") \
                from None
        except exceptions.AMQPError as exc:
            raise BrokerError(f"the broker connection failed at event {event.seq}: {type(exc).__name__}") from None

    def publish_pending(self) -> int:
        """Publish everything after the cursor, page by page; returns how many events were confirmed."""
        if self._channel is None:
            self.connect()
        cursor = get_cursor(self.ops, self.name)
        sent = 0
        while True:
            with self.ops.read() as con:
                events = read_events(con, after=cursor, limit=self.batch)
            for event in events:
                self._publish(event)  # returns once the broker confirmed it
                sent += 1
                if self.on_confirm is not None:
                    self.on_confirm(event)
            if not events:
                return sent
            cursor = events[-1].seq
            advance_cursor(self.ops, cursor, self.name)  # only what the broker confirmed

    def run(self, *, poll: float = 0.2, stop: Callable[[], bool] = lambda: False,
            on_error: Callable[[BrokerError], None] | None = None) -> None:
        """Publish as events arrive until ``stop()``; a broken broker connection is retried with back-off."""
        wait = poll
        while not stop():
            try:
                if not self.publish_pending():
                    time.sleep(poll)
                wait = poll
            except BrokerError as exc:
                if on_error is not None:
                    on_error(exc)
                self.close()
                time.sleep(wait)
                wait = min(wait * 2, 30.0)


__all__ = ["EXCHANGE", "BrokerError", "Publisher", "advance_cursor", "get_cursor", "redacted"]
