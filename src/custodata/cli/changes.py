"""``custodata changes``: follow the change outbox, or deliver it to a message broker.

Both read the operational store of OUT (or ``--db``) directly: they are the
deployment's own plumbing, like ``custodata worker``, and print no customer value
(an event names a customer and the fields that changed, never what they hold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from custodata.cli.common import DbOpt, OutOpt, _clean_errors, err_console, operational_store

changes_app = typer.Typer(help="Change events for the systems downstream: the outbox feed and the broker publisher.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Attach ``changes follow`` and ``changes publish`` to the main CLI."""
    app.add_typer(changes_app, name="changes")


@changes_app.command("follow")
def follow(
    out: OutOpt = Path("out"), db: DbOpt = None,
    after: Annotated[int, typer.Option(min=0, help="Start after this cursor (the last seq already processed).")] = 0,
    once: Annotated[bool, typer.Option("--once", help="Print what is there now, then stop.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Events per page read.")] = 100,
    poll: Annotated[float, typer.Option(min=0.05, max=60, help="Seconds between looks when nothing is new.")] = 1.0,
) -> None:
    """Print change events after --after as JSON lines, as they are committed (Ctrl+C stops)."""
    from custodata.changes.feed import follow as follow_feed

    with _clean_errors(), operational_store(out, db) as ops:
        try:
            for event in follow_feed(ops, after=after, limit=limit, poll=poll, once=once):
                typer.echo(json.dumps(event.public(), ensure_ascii=False))
        except KeyboardInterrupt:
            pass


@changes_app.command("publish")
def publish(
    out: OutOpt = Path("out"), db: DbOpt = None,
    amqp: Annotated[str, typer.Option(help="AMQP URL of the broker, e.g. amqp://guest:guest@127.0.0.1:5672/%2F.")]
    = "amqp://guest:guest@127.0.0.1:5672/%2F",
    exchange: Annotated[str, typer.Option(help="Durable topic exchange the events go to.")] = "custodata.changes",
    queue: Annotated[str | None, typer.Option(help="Also declare this durable queue, bound to every event.")] = None,
    name: Annotated[str, typer.Option(help="This publisher's name: its cursor in the operational store.")] = "amqp",
    once: Annotated[bool, typer.Option("--once", help="Publish what is pending, then stop.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Events per page; the cursor moves per page.")] = 200,
    poll: Annotated[float, typer.Option(min=0.01, max=60, help="Seconds between looks when nothing is new.")] = 0.1,
) -> None:
    """Deliver change events to RabbitMQ at least once: message_id = event_id, persistent, confirmed, resumable."""
    from custodata.changes.publisher import Publisher, get_cursor, redacted

    with _clean_errors(), operational_store(out, db) as ops:
        publisher = Publisher(ops, amqp, exchange=exchange, queue=queue, name=name, batch=batch)
        try:
            if once:
                sent = publisher.publish_pending()
                err_console.print(f"{sent} event(s) confirmed by {redacted(amqp)}; cursor {get_cursor(ops, name)}")
                return
            err_console.print(f"publishing change events to {redacted(amqp)} exchange {exchange!r} "
                              f"from cursor {get_cursor(ops, name)} (Ctrl+C stops)")
            publisher.run(poll=poll, on_error=lambda exc: err_console.print(f"{exc}; retrying"))
        except KeyboardInterrupt:
            pass
        finally:
            publisher.close()
