"""``custodata people``: add, list, status, grant, revoke, portfolio through CliRunner on both engines."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from custodata.audit.events import Action, MemorySink, Result
from custodata.cli import people
from custodata.identity.directory import Directory
from custodata.ops import OpsStore, open_ops

PW = "Counter-desk-2026"


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> MemorySink:
    """Capture what the commands append to the audit log."""
    captured = MemorySink()

    def audit_sink(_store: OpsStore, _out: object = None) -> MemorySink:
        return captured

    monkeypatch.setattr(people, "_audit_sink", audit_sink)
    return captured


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setattr(people.console, "_width", 200)  # tables unwrapped, whatever the test terminal
    app = typer.Typer()
    people.register(app)
    return app


def invoke(cli: typer.Typer, ops_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["people", *args, "--db", ops_url], input=stdin)
    return result.exit_code, result.output


def test_add_list_and_status(cli: typer.Typer, ops_url: str, sink: MemorySink) -> None:
    code, out = invoke(cli, ops_url, "add", "wang.xy", "--name", "王晓燕", "--kind", "employee",
                       "--branch", "北京朝阳支行", "--role", "front_desk", "--role", "marketer",
                       "--valid-to", "2027-01-01", "--password-stdin", stdin=PW + "\n")
    assert code == 0, out
    assert "added wang.xy" in out and "柜面/客服 (front_desk)" in out and PW not in out
    created = sink.events[-1]
    assert created.actor == people.actor() and created.actor.startswith("cli:")
    assert created.detail["roles"] == ["front_desk", "marketer"] and PW not in repr(sink.events)

    code, out = invoke(cli, ops_url, "list")
    assert code == 0 and "wang.xy" in out and "王晓燕" in out and "2027-01-01" in out and "active" in out

    code, out = invoke(cli, ops_url, "status", "wang.xy", "left", "--reason", "resigned, HR-118")
    assert code == 0 and "wang.xy is now left" in out
    assert (sink.events[-1].detail["status"], sink.events[-1].reason) == ("left", "resigned, HR-118")

    code, out = invoke(cli, ops_url, "list", "--status", "active")
    assert code == 0 and "wang.xy" not in out
    code, out = invoke(cli, ops_url, "list", "--status", "left")
    assert code == 0 and "wang.xy" in out

    store = open_ops(ops_url)
    try:
        directory = Directory(store, MemorySink())
        assert directory.person("wang.xy").status == "left"
        with pytest.raises(people.CustodataError):
            directory.login("wang.xy", PW)
    finally:
        store.close()


def test_grant_revoke_and_portfolio(cli: typer.Typer, ops_url: str, sink: MemorySink) -> None:
    code, out = invoke(cli, ops_url, "add", "root.li", "--name", "李强", "--kind", "employee",
                       "--branch", "总行", "--role", "front_desk", "--password-stdin", stdin=PW + "\n")
    assert code == 0, out
    code, out = invoke(cli, ops_url, "grant", "root.li", "auditor")  # auditor excludes customer-data roles
    assert code == 1 and "separation of duties" in out and "Traceback" not in out
    assert (sink.events[-1].action, sink.events[-1].result) == (Action.IDENTITY_CHANGE, Result.DENIED)
    code, out = invoke(cli, ops_url, "grant", "root.li", "data_steward")
    assert code == 0 and "granted data_steward" in out
    code, out = invoke(cli, ops_url, "revoke", "root.li", "data_steward")
    assert code == 0 and "revoked data_steward" in out
    code, out = invoke(cli, ops_url, "portfolio", "root.li", "--add", "C000000002", "--add", "C000000001")
    assert code == 0 and "serves 2 customers: C000000001, C000000002" in out
    code, out = invoke(cli, ops_url, "portfolio", "root.li", "--remove", "C000000001")
    assert code == 0 and "serves 1 customers: C000000002" in out


def test_errors_are_one_clean_line(cli: typer.Typer, ops_url: str, sink: MemorySink) -> None:
    code, out = invoke(cli, ops_url, "add", "x.y", "--name", "某人", "--kind", "contractor", "--branch", "总行",
                       "--password-stdin", stdin=PW + "\n")
    assert code == 1 and "unknown kind 'contractor'" in out and "Traceback" not in out
    code, out = invoke(cli, ops_url, "add", "x.y", "--name", "某人", "--kind", "employee", "--branch", "总行",
                       "--password-stdin", stdin="short\n")
    assert code == 1 and "at least 10 characters" in out and "short" not in out.replace("at least", "")
    code, out = invoke(cli, ops_url, "status", "nobody", "frozen", "--reason", "alert 7")
    assert code == 1 and "no person with login name 'nobody'" in out
    code, out = invoke(cli, ops_url, "add", "x.y", "--name", "某人", "--kind", "employee", "--branch", "总行",
                       "--valid-from", "next tuesday", "--password-stdin", stdin=PW + "\n")
    assert code == 1 and "--valid-from" in out
    assert sink.events == []


def test_password_is_prompted_hidden_and_confirmed(cli: typer.Typer, ops_url: str, sink: MemorySink) -> None:
    code, out = invoke(cli, ops_url, "add", "chen.lx", "--name", "陈立新", "--kind", "partner", "--branch", "总行",
                       "--role", "marketer", stdin=f"{PW}\n{PW}\n")
    assert code == 0 and "added chen.lx" in out and PW not in out
    code, out = invoke(cli, ops_url, "password", "chen.lx", stdin="Another-pass-99\nAnother-pass-99\n")
    assert code == 0 and "password of chen.lx set" in out
    assert sink.events[-1].detail["change"] == "password_set" and "Another-pass-99" not in repr(sink.events)


def test_changes_are_recorded_in_the_stores_audit_log(cli: typer.Typer, ops_url: str) -> None:
    from custodata.audit.log import AuditLog

    code, out = invoke(cli, ops_url, "add", "zhou.jg", "--name", "周建国", "--kind", "employee", "--branch", "总行",
                       "--role", "security_officer", "--password-stdin", stdin=PW + "\n")
    assert code == 0, out
    store = open_ops(ops_url)
    try:
        events = AuditLog(store).query(action="identity_change")
    finally:
        store.close()
    assert [(e.actor, e.detail["change"], e.detail["person_id"]) for e in events] == [
        (people.actor(), "person_created", "zhou.jg")]
