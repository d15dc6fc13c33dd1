"""``custodata approvals list|show`` and ``custodata watermark read`` through Typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from custodata.approvals import Approvals
from custodata.audit.events import MemorySink
from custodata.cli.approvals import register
from custodata.ops import open_ops
from tests.test_approvals import ALICE, CAROL, authorize

SECRET = "a deployment watermark secret"  # noqa: S105 - a test value


@pytest.fixture
def cli_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """custodata (test)."""

    register(app)
    return app


def test_list_show_and_read_watermark(cli_app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODATA_WATERMARK_SECRET", SECRET)
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    store = open_ops(url)
    approvals = Approvals(store, MemorySink(), authorize=authorize)
    pending = approvals.submit(ALICE, "edit_field", {"customer_id": "C000000001", "field": "name", "value": "王芳"},
                               reason="typo in the name")
    export = approvals.submit(ALICE, "export", {"customer_ids": [f"C{i:09d}" for i in range(1, 31)],
                                                "fields": ["name"], "purpose": "review"}, reason="review")
    approvals.decide(export.request_id, CAROL, approve=True, note="ok")
    rows = [{"customer_id": f"C{i:09d}", "name": "王*"} for i in range(1, 31)]
    produced = approvals.produce_export(export.request_id, rows=rows, requester=ALICE, out_dir=tmp_path / "x")
    store.close()
    runner = CliRunner()

    listed = runner.invoke(cli_app, ["approvals", "list", "--db", url])
    assert listed.exit_code == 0, listed.output
    assert pending.request_id in listed.output and export.request_id not in listed.output

    shown = runner.invoke(cli_app, ["approvals", "show", pending.request_id, "--db", url])
    assert shown.exit_code == 0 and "typo in the name" in shown.output

    leaked = tmp_path / "leak.csv"
    leaked.write_text("\n".join(produced.path.read_text(encoding="utf-8-sig").splitlines()[3:25]), encoding="utf-8")
    read = runner.invoke(cli_app, ["watermark", "read", str(leaked), "--db", url])
    assert read.exit_code == 0, read.output
    assert "alice" in read.output and produced.export_id in read.output

    missing = runner.invoke(cli_app, ["approvals", "show", "CR-NOPE", "--db", url])
    assert missing.exit_code == 1 and "no request CR-NOPE" in missing.output and "Traceback" not in missing.output
