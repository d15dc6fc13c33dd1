"""``custodata policy``: export, import, history, explain and check through the CLI, with the real audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from custodata.access.policy_document import default_document_yaml
from custodata.cli.policy import DENIED_EXIT, register

runner = CliRunner()


def flat(output: str) -> str:
    """Rich wraps lines at the terminal width; compare words, not line breaks."""
    return " ".join(output.split())


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Keep ``policy`` a sub-command even when it is the only one."""

    return app


def test_export_import_history_with_the_audit_log(cli: typer.Typer, ops_url: str, tmp_path: Path) -> None:
    db = ["--db", ops_url]
    exported = runner.invoke(cli, ["policy", "export", *db])
    assert exported.exit_code == 0, exported.output
    assert default_document_yaml() in exported.output  # seeded on first use, printed verbatim

    path = tmp_path / "policy.yaml"
    assert runner.invoke(cli, ["policy", "export", str(path), *db]).exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert text == default_document_yaml()
    path.write_text(text.replace("\n    marketer: branch\n", "\n    marketer: portfolio\n"), encoding="utf-8")
    imported = runner.invoke(cli, ["policy", "import", str(path), "--comment", "CHG-7 [narrow] marketers", *db])
    assert imported.exit_code == 0, imported.output
    assert "stored policy version 2" in imported.output
    again = runner.invoke(cli, ["policy", "import", str(path), "--comment", "again", *db])
    assert "unchanged: policy version 2" in again.output

    hist = runner.invoke(cli, ["policy", "history", *db])
    assert hist.exit_code == 0, hist.output
    assert "CHG-7" in hist.output and "[narrow]" in hist.output and "cli:" in hist.output

    old = runner.invoke(cli, ["policy", "export", "--version", "1", *db])
    assert old.output == default_document_yaml()
    diff = runner.invoke(cli, ["policy", "diff", "1", "2", *db])
    assert "+    marketer: portfolio" in diff.output

    engine = sa.create_engine(ops_url)
    try:
        with engine.connect() as con:
            rows = con.execute(sa.text("SELECT action, actor FROM audit_event ORDER BY seq")).all()
    finally:
        engine.dispose()
    assert [r.action for r in rows] == ["policy_change", "policy_change"]
    assert all(r.actor.startswith("cli:") for r in rows)


def test_bad_import_is_one_clean_line(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(default_document_yaml().replace("customer.lineage]", "customer.linage]", 1), encoding="utf-8")
    result = runner.invoke(cli, ["policy", "import", str(path), "--comment", "x", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "access: key 'deny[1].actions[2]'" in flat(result.output)
    assert "Did you mean 'customer.lineage'?" in flat(result.output)
    assert "Traceback" not in result.output
    missing = runner.invoke(cli, ["policy", "import", str(tmp_path / "nope.yaml"), "--comment", "x",
                                  "--out", str(tmp_path)])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_explain_and_check(cli: typer.Typer, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path)]
    explained = runner.invoke(cli, ["policy", "explain", "--role", "front_desk", "--field", "mobile", *out],
                              terminal_width=200)
    assert explained.exit_code == 0, explained.output
    assert "masked (keep first 3, last 4) because level 4 (mobile) and role front_desk (rule all-mobile)" \
        in flat(explained.output)
    table = runner.invoke(cli, ["policy", "explain", "--role", "marketer", *out])
    assert "marketer-no-identifiers" in flat(table.output) and "card_no" in table.output
    unknown = runner.invoke(cli, ["policy", "explain", "--role", "janitor", "--field", "mobile", *out])
    assert unknown.exit_code == 1 and "unknown role" in flat(unknown.output)

    ok = runner.invoke(cli, ["policy", "check", "--role", "marketer", "--action", "customer.read",
                             "--at", "2026-03-04T10:00+08:00", *out])
    assert ok.exit_code == 0, ok.output
    assert "allowed by permissions.marketer" in flat(ok.output)
    late = runner.invoke(cli, ["policy", "check", "--role", "marketer", "--action", "customer.read",
                               "--at", "2026-03-04T22:00+08:00", *out])
    assert late.exit_code == DENIED_EXIT and "denied by marketing-hours" in flat(late.output)
    leaving = runner.invoke(cli, ["policy", "check", "--role", "data_steward", "--action", "export.request",
                                  "--status", "leaving", *out])
    assert leaving.exit_code == DENIED_EXIT and "deny-leaving-export-unmask" in flat(leaving.output)
    unmask = runner.invoke(cli, ["policy", "check", "--role", "front_desk", "--action", "customer.unmask",
                                 "--field", "mobile", "--purpose", "customer_service", *out])
    assert unmask.exit_code == 0 and "front-desk-contact" in flat(unmask.output)
    bad_at = runner.invoke(cli, ["policy", "check", "--role", "marketer", "--action", "customer.read",
                                 "--at", "tonight", *out])
    assert bad_at.exit_code == 1 and "not an ISO date-time" in flat(bad_at.output)
