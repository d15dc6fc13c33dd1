"""Smoke test of benchmarks/protection.py: quick sizes, without Presidio or the pipeline runs.

It checks that the tables the README quotes come out with their rows; it sets
no timing threshold (timings on a shared machine prove nothing in a test).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys

import pytest
from benchmarks import protection

from custodata.engine import memory_engine

LABELLED_TYPES = ("id_number", "bank_card", "mobile", "landline", "uscc", "email", "passport", "permit",
                  "person_name", "address", "birth_date", "ip_address", "account_number", "policy_number",
                  "vehicle_plate", "company_name", "free_text")


@pytest.fixture(scope="module")
def quick_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    workdir = tmp_path_factory.mktemp("protection")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setitem(sys.modules, "presidio_analyzer", None)  # as under `make test`: Presidio is not installed
        protection.main(["--quick", "--skip-pipeline", "--workdir", str(workdir)])
    return out.getvalue()


def _row(output: str, first_cells: str) -> list[str]:
    found = re.search(rf"^\| {first_cells} \|(.*)\|$", output, re.MULTILINE)
    assert found, f"no row '{first_cells}' in:\n{output}"
    return [c.strip() for c in found.group(1).split("|")]


def test_without_presidio_its_columns_are_left_out(quick_output: str) -> None:
    assert "Presidio is not installed" in quick_output
    assert "| type | columns | custodata P | custodata R |\n" in quick_output
    assert "Presidio P" not in quick_output


def test_accuracy_table_has_a_row_per_type_and_the_totals(quick_output: str) -> None:
    for type_ in LABELLED_TYPES:
        columns, precision, recall = _row(quick_output, type_)
        assert int(columns) >= 2
        assert re.fullmatch(r"\d\.\d{3}|—", precision) and re.fullmatch(r"\d\.\d{3}|—", recall)
    _, precision, recall = _row(quick_output, r"\*\*all types \(micro\)\*\*")
    # a floor, far below the target: this is a smoke test, the benchmark reports the real figures
    assert float(precision.strip("*")) >= 0.9 and float(recall.strip("*")) >= 0.9
    assert _row(quick_output, "decoys given a type")[0] == str(sum(e is None for _, e, *_ in
                                                                   protection.labelled_specs()))


def test_scan_speed_table_has_the_wide_table_and_the_labelled_set(quick_output: str) -> None:
    cells = _row(quick_output, r"20,000 x 20 table \| custodata")
    assert cells[0] == f"{20 * 2000:,}"  # values sampled: 2,000 per column
    assert re.fullmatch(r"\d+/20", cells[5])
    _row(quick_output, r"labelled set \(\d+ columns\) \| custodata")


def test_crypto_table_has_every_operation_and_path(quick_output: str) -> None:
    for operation, path in [("encrypt", "Protector.encrypt"), ("decrypt", "Protector.decrypt"),
                            ("token", "Protector.token"), ("identity \\(UDF cost\\)", "DuckDB Arrow UDF"),
                            ("encrypt", "cd_enc in DuckDB"), ("decrypt", "cd_dec in DuckDB"),
                            ("token", "cd_tok in DuckDB")]:
        cells = _row(quick_output, rf"{operation} \| {re.escape(path)}[^|]*")
        assert cells[0] == "5,000" and float(cells[2].replace(",", "")) > 0


def test_protection_off_udfs_keep_names_and_signatures_without_cryptography() -> None:
    engine = memory_engine()
    protection._register_identity(engine, None, lambda _key: True)
    row = engine.one("SELECT cd_enc('13812345678', 'b-1', 'x'), cd_dec('13812345678', 'x'), "
                     "cd_reenc('v', 'a', 'k', 'b'), cd_tok('mobile', '13812345678'), cd_tok('mobile', '无'), "
                     "cd_tok('mobile', NULL), cd_erased('c-1')")
    assert row == ("13812345678", "13812345678", "v", "13812345678", None, None, False)
