"""The demo's example 360° view is a display like any other (issue 10 point 23, the demo part).

The attack it stops: the demo printed a customer's view masked with the shipped policy, not the
policy in force, and wrote no audit event, so a tightened policy did not reach the terminal and
the read left no trace.  Since the terminal is a client of the service layer (point 23), the
example is the service's view of the served customer: the READ event is the service's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from custodata.audit.query import query
from custodata.cli.app import app
from custodata.ops.store import open_ops


@pytest.mark.slow
def test_demo_example_view_is_audited_with_the_policy_in_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--customers", "300", "--no-serve"])
    assert result.exit_code == 0, result.output
    ops = open_ops(out_dir=out)
    try:
        reads = [e for e in query(ops, action="read") if e.actor.startswith("cli:")]
    finally:
        ops.close()
    assert len(reads) == 1
    assert reads[0].role == "cli" and reads[0].customer_ids and reads[0].result == "ok"
    assert reads[0].detail.get("requested_id") in reads[0].customer_ids  # the service's view event
