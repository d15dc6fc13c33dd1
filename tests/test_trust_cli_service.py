"""The terminal is a client too (issue 10 point 23): ``show`` and ``match`` go through the service layer.

The attack these stop: an operator at the terminal read the batch store directly, so the
row rule, the role's permissions and the identifier-search rule of the policy in force
did not apply to ``custodata show`` / ``custodata match`` (a policy withdrawing role
``cli``'s rows still let the terminal print every customer, and an exact ID number or
mobile could be confirmed from the terminal with no unmask right), and the terminal
wrote its own audit events instead of the service's decisions.  Each test runs on the
operational store on SQLite and on PostgreSQL (``--db``), which the old path never read.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from custodata.audit.query import StoredEvent, query
from custodata.cli.app import app
from custodata.engine.store import open_store
from custodata.ops.store import open_ops
from custodata.pipeline import Pipeline
from custodata.service import Services
from custodata.serving.publish import publish_served
from tests.conftest import _drop_pg_database, _fresh_pg_database

MINI = Path(__file__).parent / "fixtures" / "mini"
ID_NUMBER = "110105198503071230"  # policy_core:P001's policy holder in the mini fixture
MOBILE = "13812345678"
LOGIN = "teller7"  # the OS login the terminal runs under (getpass reads LOGNAME first)
ACTOR = f"cli:{LOGIN}"


@dataclass
class Terminal:
    out: Path
    url: str
    args: list[str]          # --out and --db for every command
    customer_id: str         # the customer holding ID_NUMBER

    def invoke(self, *args: str) -> Any:
        return CliRunner().invoke(app, [*args, *self.args])

    def events(self, **filters: Any) -> list[StoredEvent]:
        ops = open_ops(self.url)
        try:
            return query(ops, actor=ACTOR, **filters)
        finally:
            ops.close()

    def import_policy(self, change: Any) -> int:
        """A policy version after the shipped one, made by ``change(document)``."""
        svc = Services(open_ops(self.url), self.out)
        try:
            doc = yaml.safe_load(svc.policies.export_yaml())
            change(doc)
            return svc.policies.import_yaml(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                                            by="sec.test", comment="issue 10 point 23 test")
        finally:
            svc.close()


@pytest.fixture(scope="module")
def mini_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli_service") / "out"
    Pipeline.create(out, mappings_dir=MINI / "mappings").run(MINI / "data")
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def terminal(request: pytest.FixtureRequest, mini_world: Path, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    monkeypatch.setenv("LOGNAME", LOGIN)
    out = tmp_path / "out"
    shutil.copytree(mini_world, out)
    batch = open_store(out / "custodata.duckdb", read_only=True)
    try:  # closed before the test runs: the CLI opens the stores itself
        row = batch.con.execute(
            "SELECT customer_id FROM customer.xref WHERE obs_id = 'policy_core:P001:policy_holder'").fetchone()
        assert row is not None
        pg = _fresh_pg_database() if request.param == "postgresql" else None
        if pg is not None:
            ops = open_ops(pg[1])
            try:
                publish_served(batch, ops)
            finally:
                ops.close()
    finally:
        batch.close()
    if pg is None:
        yield Terminal(out, f"sqlite:///{out / 'custodata.sqlite'}", ["--out", str(out)], str(row[0]))
        return
    try:
        yield Terminal(out, pg[1], ["--out", str(out), "--db", pg[1]], str(row[0]))
    finally:
        _drop_pg_database(pg[0])


def _cli_id_rule(doc: dict[str, Any]) -> None:
    """Role cli sees only the last two digits of an ID number (more specific than the staff 1+4 rule)."""
    doc["masking"]["rules"].insert(0, {"id": "cli-id-last-two", "roles": ["cli"], "fields": ["id_number"],
                                       "operator": "keep", "params": {"first": 0, "last": 2}})


def test_show_masks_by_the_policy_in_force_and_is_audited_by_the_service(terminal: Terminal) -> None:
    """A policy imported after the shipped one reaches the terminal; the READ is the service's, as cli:<login>.

    Stops: a terminal display masked by another policy than the one in force, read from the
    batch store instead of the served view, and audited outside the service path.
    """
    version = terminal.import_policy(_cli_id_rule)
    assert version >= 2
    result = terminal.invoke("show", terminal.customer_id)
    assert result.exit_code == 0, result.output
    assert "1*************1230" not in result.output  # the shipped staff rule (1+4) is no longer in force
    assert "****************30" in result.output
    assert ID_NUMBER not in result.output and MOBILE not in result.output
    assert "masked for role cli" in result.output
    reads = terminal.events(action="read", result="ok")
    assert len(reads) == 1
    read = reads[0]
    assert read.actor == ACTOR and read.role == "cli" and read.customer_ids == (terminal.customer_id,)
    assert "id_number" in read.fields
    assert read.detail.get("requested_id") == terminal.customer_id  # the service's view event, not a CLI one
    as_json = terminal.invoke("show", terminal.customer_id, "--json")
    assert as_json.exit_code == 0 and '"id_number": "****************30"' in as_json.output


def test_show_outside_the_row_rule_in_force_is_refused_and_audited(terminal: Terminal) -> None:
    """A policy that gives role cli no rows refuses the terminal's show: one clean line, a denied READ.

    Stops: the terminal printing any customer whatever the row rule in force says.
    """

    def no_rows(doc: dict[str, Any]) -> None:
        doc["access"]["rows"]["cli"] = "none"

    terminal.import_policy(no_rows)
    result = terminal.invoke("show", terminal.customer_id)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and "rows.cli" in result.output.replace("\n", " ")
    assert "张" not in result.output and "1230" not in result.output  # nothing of the customer printed
    denied = terminal.events(action="read", result="denied")
    assert len(denied) == 1 and denied[0].customer_ids == (terminal.customer_id,)
    assert denied[0].role == "cli" and denied[0].reason and "rows.cli" in denied[0].reason
    assert not terminal.events(action="read", result="ok")


@pytest.mark.parametrize(("option", "value", "field"), [("--id-number", ID_NUMBER, "id_number"),
                                                         ("--mobile", MOBILE, "mobile")])
def test_match_by_identifier_is_refused_to_the_terminal_and_audited(
    terminal: Terminal, option: str, value: str, field: str,
) -> None:
    """An exact ID number or mobile search as cli is a use of it: no unmask rule, so refused, audited, one line.

    Stops: confirming which customer holds an ID number or mobile from the terminal with no
    unmask right, no limit and no denied event (the enumeration of point 1, run at the terminal).
    """
    result = terminal.invoke("match", option, value, "--name", "张伟")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("error: a search by ") and "permissions.cli" in text and "--name" in text
    assert value not in result.output and terminal.customer_id not in result.output
    denied = terminal.events(action="search", result="denied")
    assert len(denied) == 1
    event = denied[0]
    assert event.role == "cli" and event.detail.get("identifiers") == [field]
    assert event.detail.get("outcome") == "refused" and not event.customer_ids
    assert value not in repr(event)  # the criterion itself never reaches the log


def test_match_by_name_searches_the_served_view_as_cli(terminal: Terminal) -> None:
    """A name search is the service's search: candidates masked by the policy in force, a SEARCH by cli:<login>.

    Stops: the terminal's search running against the batch store, outside the row rule and the
    service's audit event.
    """
    result = terminal.invoke("match", "--name", "张伟")
    assert result.exit_code == 0, result.output
    assert terminal.customer_id in result.output and "张伟" not in result.output  # names masked
    search = terminal.events(action="search", result="ok")
    assert len(search) == 1 and terminal.customer_id in search[0].customer_ids
    assert search[0].detail.get("criteria") == ["name"] and search[0].role == "cli"
    empty = terminal.invoke("match")
    assert empty.exit_code == 1 and "Traceback" not in empty.output and "give at least one of" in empty.output
