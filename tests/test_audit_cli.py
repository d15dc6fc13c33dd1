"""``custodata audit`` through Typer's CliRunner: exit codes, the first bad entry, the auditor audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from custodata.audit import tables as t
from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import AuditLog
from custodata.cli.audit import register
from custodata.ops import open_ops

runner = CliRunner()


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps "audit" a sub-command even with one group
        pass

    return app


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    store = open_ops(url)
    AuditLog.for_out_dir(store, tmp_path).append_many(
        AuditEvent(actor=f"u{i % 2}", action=Action.READ, customer_ids=[f"C{i}"]) for i in range(12))
    store.close()
    return url


def test_verify_ok_then_tampered(cli: typer.Typer, db: str, tmp_path: Path) -> None:
    args = ["audit", "verify", "--out", str(tmp_path), "--db", db]
    ok = runner.invoke(cli, args)
    assert ok.exit_code == 0, ok.output
    assert "12 entries" in ok.output
    store = open_ops(db)
    with store.begin() as con:
        con.execute(sa.update(t.audit_event).where(t.audit_event.c.seq == 7).values(actor="nobody"))
    bad = runner.invoke(cli, args)
    assert bad.exit_code == 1
    assert "entry 7: hash does not match its content (edited)" in bad.output and "first bad entry: 7" in bad.output
    verifies = AuditLog(store).query(action="audit_verify")
    assert [(e.result, e.actor.startswith("cli:")) for e in verifies] == [("ok", True), ("failed", True)]
    store.close()


def test_verify_with_a_foreign_public_key_fails(cli: typer.Typer, db: str, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "other.pem").write_bytes(other)
    store = open_ops(db)
    AuditLog.for_out_dir(store, tmp_path).checkpoint()
    store.close()
    result = runner.invoke(cli, ["audit", "verify", "--out", str(tmp_path), "--db", db,
                                 "--public-key", str(tmp_path / "other.pem")])
    assert result.exit_code == 1 and "signed by unknown key" in result.output


def test_query_export_and_errors(cli: typer.Typer, db: str, tmp_path: Path) -> None:
    base = ["--out", str(tmp_path), "--db", db]
    shown = runner.invoke(cli, ["audit", "query", *base, "--actor", "u1", "--limit", "2"])
    assert shown.exit_code == 0, shown.output
    assert "u1" in shown.output and "u0" not in shown.output
    out_file = tmp_path / "audit.jsonl"
    exported = runner.invoke(cli, ["audit", "export", str(out_file), *base, "--customer", "C3"])
    assert exported.exit_code == 0, exported.output
    [line] = out_file.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["customer_ids"] == ["C3"]
    bad = runner.invoke(cli, ["audit", "query", *base, "--since", "yesterday"])
    assert bad.exit_code == 1 and "--since: not a date" in bad.output
    bad_fmt = runner.invoke(cli, ["audit", "export", str(tmp_path / "x"), *base, "--format", "xml"])
    assert bad_fmt.exit_code == 1 and "format" in bad_fmt.output
    store = open_ops(db)
    [lookup] = AuditLog(store).query(action="audit_query", customer_id="C3")
    assert lookup.detail["exported"] == 1
    store.close()


def test_purge_respects_retention(cli: typer.Typer, db: str, tmp_path: Path) -> None:
    (tmp_path / "audit.yaml").write_text("retention_days: 90\n")
    base = ["--out", str(tmp_path), "--db", db]
    refused = runner.invoke(cli, ["audit", "purge", *base, "--config", str(tmp_path / "audit.yaml")])
    assert refused.exit_code == 1 and "minimum of 180" in refused.output
    nothing = runner.invoke(cli, ["audit", "purge", *base])
    assert nothing.exit_code == 0 and "nothing to purge" in nothing.output
    signed = runner.invoke(cli, ["audit", "checkpoint", *base])
    assert signed.exit_code == 0 and "checkpoint at entry 12" in signed.output


def test_event_schema_doc_covers_every_action_column_and_command() -> None:
    """docs/audit-events.md is the contract for the monitoring and for mapped logs: it must not drift."""
    from custodata.audit.query import EXPORT_COLUMNS
    from custodata.cli.audit import audit_app

    doc = (Path(__file__).parents[1] / "docs" / "audit-events.md").read_text(encoding="utf-8")
    assert all(f"`{a.value}`" in doc for a in Action)
    assert all(f"| `{c}` |" in doc for c in EXPORT_COLUMNS)
    assert ", ".join(EXPORT_COLUMNS[:10]) in doc.replace("\n", " ")
    assert all(f"custodata audit {c.name}" in doc for c in audit_app.registered_commands)
