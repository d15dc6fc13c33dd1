"""The CLI: every command has help, errors are one clean line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from custodata.cli.app import app

runner = CliRunner()
MINI = Path(__file__).parent / "fixtures" / "mini"
COMMANDS = ("generate", "run", "show", "match", "merge", "unmerge", "quarantine", "dedupe", "demo", "worker")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_commands_are_documented_in_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    for command in COMMANDS:
        assert f"custodata {command}" in readme, command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "C1", "--out", "/nonexistent"], "no custodata store in /nonexistent"),
        (["run", str(MINI / "data"), "--out", "{tmp}", "--mode", "sideways"], "--mode must be"),
        (["run", "/nonexistent", "--mappings", str(MINI / "mappings"), "--out", "{tmp}"], "not found"),
        (["run", str(MINI / "data"), "--mappings", "/nonexistent", "--out", "{tmp}"], "no mapping files"),
    ],
)
def test_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [a.replace("{tmp}", str(tmp_path / "out")) for a in args])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert message in result.output.replace("\n", " ")


def test_run_show_and_quarantine_on_mini(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(MINI / "data"), "--mappings", str(MINI / "mappings"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "policy_core" in result.output and "quarantined" in result.output
    result = runner.invoke(app, ["quarantine", "--out", str(out)])
    assert result.exit_code == 0 and "ID_CHECKSUM" in result.output
    import duckdb

    con = duckdb.connect(str(out / "custodata.duckdb"), read_only=True)
    cid = con.execute(
        "SELECT customer_id FROM customer.xref WHERE obs_id = 'policy_core:P001:policy_holder'"
    ).fetchone()
    con.close()
    assert cid is not None
    result = runner.invoke(app, ["show", cid[0], "--out", str(out)])
    assert result.exit_code == 0, result.output
    # masked display: the full ID number and mobile never appear
    assert "110105198503071230" not in result.output
    assert "13812345678" not in result.output
    assert "1*************1230" in result.output  # ID 1+4: the birth date stays hidden too
    assert "138****5678" in result.output
    result = runner.invoke(app, ["show", "C999999999", "--out", str(out)])
    assert result.exit_code == 1 and "not found" in result.output


def test_reading_commands_create_nothing_in_a_folder_without_a_store(tmp_path: Path) -> None:
    """show and match on a wrong --out fail cleanly and leave no operational store or key behind."""
    for args in (["show", "C000000001"], ["match", "--name", "张伟"]):
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
        assert result.exit_code == 1 and "no custodata store" in result.output
    assert list(tmp_path.iterdir()) == []
