"""The ``job`` table: work the service hands to the one worker, in the order it was asked for.

A job names what to do (``kind``) and the maker-checker request it carries out;
the request holds the payload, so a job holds no customer data.  ``id`` gives
the order jobs are applied in.  A running job carries a lease: the worker that
claimed it (``lease_owner``) and until when (``lease_expires_at``); a worker
renews its lease while it works, so a lease that runs out means the worker died
and the job may be claimed again.  One job per request: a retry re-queues the
same job (``attempts`` counts the tries).
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

JOB_KINDS = ("apply_change",)
JOB_STATES = ("queued", "running", "done", "failed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


job = sa.Table(
    "job", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("change_request.request_id"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("started_at", sa.DateTime(), nullable=True),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
    sa.CheckConstraint(_one_of("kind", JOB_KINDS), name="kind"),
    sa.CheckConstraint(_one_of("state", JOB_STATES), name="state"),
    sa.Index(None, "request_id", unique=True),
    sa.Index(None, "state", "id"),
)

__all__ = ["JOB_KINDS", "JOB_STATES", "job"]
