"""The data catalogue: scans upsert, stewards decide, and a decision survives every re-scan."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custodata.classification.catalogue import CATALOGUE_FILE, Catalogue, CatalogueError, Status
from custodata.classification.scan import scan_table
from custodata.cli.app import app
from custodata.errors import ConfigError, NotFoundError

runner = CliRunner()


def write_accounts(path: Path, *, seed: int = 1, mobile_column: str = "mobile", garbage_mobiles: bool = False) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["acct_no", "cust_name", mobile_column, "churn_score", "remark"])
        for i in range(120):
            mobile = f"1{rng.choice('38')}{rng.randint(10**8, 10**9 - 1)}"
            if garbage_mobiles:
                mobile = f"x{rng.random():.6f}"
            name = rng.choice("王李张刘陈杨") + rng.choice("伟芳娜敏静丽强磊")
            writer.writerow([
                f"{rng.randint(10**16, 10**17 - 1)}", name, mobile,
                f"{rng.random():.3f}", f"客户留言：请拨打1{rng.choice('38')}{rng.randint(10**8, 10**9 - 1)}联系。"
                if i % 5 == 0 else "客户咨询理财产品，已解答。",
            ])
    return path


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    with Catalogue.open(tmp_path / "out") as cat:
        yield cat


def test_scan_is_recorded(catalogue: Catalogue, tmp_path: Path) -> None:
    report = scan_table(write_accounts(tmp_path / "accounts.csv"))
    result = catalogue.record(report)
    assert (result.inserted, result.updated, result.kept) == (5, 0, 0)
    entries = {e.column: e for e in catalogue.entries()}
    assert [e.column for e in catalogue.entries(report.source)] == ["acct_no", "cust_name", "mobile", "churn_score",
                                                                     "remark"]
    mobile = entries["mobile"]
    assert (mobile.type, mobile.category, mobile.level, mobile.status) == ("mobile", "C2", 4, Status.DETECTED)
    assert mobile.recogniser == "cn_mobile" and mobile.confidence == 1.0 and mobile.evidence
    assert all("*" in e for e in mobile.evidence)
    assert entries["remark"].type == "free_text" and entries["churn_score"].type is None
    assert mobile.scanned_at is not None and mobile.scanned_at.tzinfo is not None
    assert not mobile.drift
    assert catalogue.sources() == [report.source]
    assert (tmp_path / "out" / CATALOGUE_FILE).exists()


def test_override_survives_a_rescan(catalogue: Catalogue, tmp_path: Path) -> None:
    path = write_accounts(tmp_path / "accounts.csv")
    catalogue.record(scan_table(path))
    entry = catalogue.override(str(path), "churn_score", type_="amount", level=2, by="王经理",
                               note="model scores count as financial information")
    assert (entry.type, entry.category, entry.level, entry.status) == ("amount", "C2", 2, Status.OVERRIDDEN)
    assert entry.confirmed_by == "王经理" and entry.drift  # the scan still sees no type

    result = catalogue.record(scan_table(path))
    assert (result.inserted, result.updated, result.kept) == (0, 4, 1)
    after = catalogue.entry(str(path), "churn_score")
    assert (after.type, after.level, after.status, after.confirmed_by, after.note) == (
        "amount", 2, Status.OVERRIDDEN, "王经理", "model scores count as financial information")
    assert after.detected_type is None and after.scanned_at and after.scanned_at >= entry.updated_at.replace(
        microsecond=0)


def test_confirmation_survives_a_changed_detection(catalogue: Catalogue, tmp_path: Path) -> None:
    path = write_accounts(tmp_path / "accounts.csv")
    catalogue.record(scan_table(path))
    confirmed = catalogue.confirm(str(path), "mobile", by="李主管", note="checked against the system's manual")
    assert (confirmed.type, confirmed.status) == ("mobile", Status.CONFIRMED)

    write_accounts(path, garbage_mobiles=True)  # the system now exports something else in that column
    catalogue.record(scan_table(path))
    after = catalogue.entry(str(path), "mobile")
    assert (after.type, after.level, after.status) == ("mobile", 4, Status.CONFIRMED)
    assert (after.detected_type, after.drift) == (None, True)  # recorded alongside, for the steward to see


def test_detected_entries_follow_the_scan(catalogue: Catalogue, tmp_path: Path) -> None:
    path = write_accounts(tmp_path / "accounts.csv")
    catalogue.record(scan_table(path))
    write_accounts(path, garbage_mobiles=True)
    catalogue.record(scan_table(path))
    entry = catalogue.entry(str(path), "mobile")
    assert (entry.type, entry.level, entry.status) == (None, None, Status.DETECTED)


def test_override_to_not_sensitive_and_relative_sources(catalogue: Catalogue, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_accounts(tmp_path / "accounts.csv")
    catalogue.record(scan_table(path))
    monkeypatch.chdir(tmp_path)
    entry = catalogue.override("accounts.csv", "remark", type_=None, by="王经理", note="template texts only")
    assert (entry.type, entry.category, entry.level, entry.source) == (None, None, None, str(path.resolve()))
    assert [e.column for e in catalogue.entries("accounts.csv")][:1] == ["acct_no"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"type_": "shoe_size", "by": "王", "note": "x"}, ConfigError, "unknown sensitive type 'shoe_size'"),
        ({"type_": "mobile", "level": 7, "by": "王", "note": "x"}, CatalogueError, "level must be 1 to 5"),
        ({"type_": "mobile", "by": "王", "note": " "}, CatalogueError, "needs a note"),
        ({"type_": "mobile", "by": "", "note": "x"}, CatalogueError, "steward's name"),
    ],
)
def test_override_is_validated(catalogue: Catalogue, tmp_path: Path, kwargs: dict[str, object],
                               error: type[Exception], message: str) -> None:
    path = write_accounts(tmp_path / "accounts.csv")
    catalogue.record(scan_table(path))
    with pytest.raises(error, match=message):
        catalogue.override(str(path), "mobile", **kwargs)  # type: ignore[arg-type]
    assert catalogue.entry(str(path), "mobile").status == Status.DETECTED


def test_unknown_entries_and_missing_catalogue(catalogue: Catalogue, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no catalogue entry for column 'mobile'"):
        catalogue.confirm(str(tmp_path / "nothing.csv"), "mobile", by="王")
    with pytest.raises(NotFoundError, match="no catalogue in"):
        Catalogue.open(tmp_path / "elsewhere", create=False)


def test_catalogue_by_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalogue.db'}"
    report = scan_table(write_accounts(tmp_path / "accounts.csv"))
    with Catalogue.open(url=url) as cat:
        cat.record(report)
    with Catalogue(url) as cat:
        assert len(cat.entries()) == 5
        assert cat.entries()[0].to_dict()["updated_at"].endswith("+00:00")
    with pytest.raises(CatalogueError, match="catalogue"):
        Catalogue("nosuchdriver://x/y")


# --------------------------------------------------------------------------- CLI

def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [["scan"], ["catalogue"], ["catalogue", "list"], ["catalogue", "confirm"],
                                     ["catalogue", "override"]])
def test_commands_have_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_cli_scan_confirm_override_rescan(tmp_path: Path) -> None:
    path = write_accounts(tmp_path / "accounts.csv")
    out, report_path = tmp_path / "out", tmp_path / "reports" / "accounts.json"
    output = _run("scan", str(path), "--out", str(report_path), "--store", str(out), "--sample", "100")
    assert "分类分级" in output and "5 new" in output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["source"] == str(path.resolve()) and report["sample"] == 100
    assert {c["column"]: c["type"] for c in report["columns"]}["mobile"] == "mobile"
    raw = path.read_text(encoding="utf-8")
    for column in report["columns"]:
        for shown in column["evidence"]:
            assert shown.split(": ")[-1] not in raw  # evidence is never a plaintext value

    assert "confirmed mobile" in _run("catalogue", "confirm", str(path), "mobile", "--by", "李主管",
                                      "--store", str(out))
    assert "amount level 2" in _run("catalogue", "override", str(path), "churn_score", "--type", "amount",
                                    "--level", "2", "--by", "王经理", "--note", "model score", "--store", str(out))
    assert "2 steward decisions kept" in _run("scan", str(path), "--store", str(out))
    listed = json.loads(_run("catalogue", "list", "--json", "--store", str(out)))
    by_column = {e["column"]: e for e in listed}
    assert (by_column["churn_score"]["type"], by_column["churn_score"]["status"]) == ("amount", "overridden")
    assert by_column["mobile"]["confirmed_by"] == "李主管"
    sensitive = json.loads(_run("catalogue", "list", "--json", "--sensitive", "--store", str(out)))
    assert {e["column"] for e in sensitive} == {"acct_no", "cust_name", "mobile", "churn_score", "remark"} - {
        e["column"] for e in listed if e["type"] is None}
    assert "数据目录" in _run("catalogue", "list", "--store", str(out), "--source", str(path))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "/nonexistent/accounts.csv"], "/nonexistent/accounts.csv: file not found"),
        (["scan", "notes.txt"], "unknown file type '.txt'"),
        (["scan", "sqlite://"], "name the table to scan with --table"),
        (["scan", "x.csv", "--sample", "0"], "sample must be at least 1"),
        (["catalogue", "list", "--store", "/nonexistent"], "no catalogue in /nonexistent"),
    ],
)
def test_cli_errors_are_one_clean_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert message in result.output.replace("\n", " ")
    assert result.output.startswith("error:")


def test_cli_steward_errors(tmp_path: Path) -> None:
    path = write_accounts(tmp_path / "accounts.csv")
    out = tmp_path / "out"
    _run("scan", str(path), "--store", str(out))
    result = runner.invoke(app, ["catalogue", "override", str(path), "mobile", "--type", "shoe", "--by", "王",
                                 "--note", "x", "--store", str(out)])
    assert result.exit_code == 1 and "unknown sensitive type 'shoe'" in result.output.replace("\n", " ")
    result = runner.invoke(app, ["catalogue", "confirm", str(path), "nope", "--by", "王", "--store", str(out)])
    assert result.exit_code == 1 and "no catalogue entry for column 'nope'" in result.output.replace("\n", " ")


def test_readme_documents_commands_recognisers_and_settings() -> None:
    from custodata.classification.config import ScanSettings
    from custodata.classification.recognisers import PatternRecogniser, default_registry

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Classification and grading"):readme.index("## Figures measured so far")]
    for command in ("custodata scan", "custodata catalogue list", "custodata catalogue confirm",
                    "custodata catalogue override"):
        assert command in section, command
    for recogniser in default_registry():
        if not isinstance(recogniser, PatternRecogniser):  # configured ones are documented in their YAML
            assert f"`{recogniser.name}`" in section, recogniser.name
    for key in ScanSettings.model_fields:
        assert key in section, key
    for status in Status:
        assert f"`{status.value}`" in section
