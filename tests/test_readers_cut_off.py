"""A CSV export cut off inside a quoted field: its last record is quarantined, not lost.

DuckDB's reader drops a final record whose quoted field never closes without writing a
reject, so "read" came out one short of what the file holds.  The reader now finds it and
quarantines it with its reason; every row the generator wrote is read.
"""

from __future__ import annotations

import json
from pathlib import Path

from custodata.demo.sources import generate
from custodata.pipeline import Pipeline
from custodata.sources.readers import _cut_off_tail


def test_a_file_ending_inside_a_quoted_field_gives_its_last_record(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('id,addr,n\n1,"北京市\n朝阳区",2\n2,"上海""浦东""",3\n3,"唐山市路南', encoding="utf-8")
    cut = _cut_off_tail(path, '"')
    assert cut is not None
    assert cut.row_no == 5 and cut.raw == '3,"唐山市路南'
    assert "cut off" in cut.detail


def test_a_cut_inside_a_quoted_field_with_line_breaks_starts_at_its_record(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('id,addr\n1,"a"\n2,"二单元\n三楼\n', encoding="utf-8")
    cut = _cut_off_tail(path, '"')
    assert cut is not None and cut.row_no == 3 and cut.raw.startswith('2,"二单元')


def test_a_complete_file_has_no_cut_off_record(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('id,addr\n1,"北京市\n朝阳区"\n2,"say ""hi"""\n', encoding="utf-8")
    assert _cut_off_tail(path, '"') is None


def test_every_generated_row_is_read_accepted_or_quarantined(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    generate(300, 5, raw)
    written = json.loads((raw / "generation.json").read_text(encoding="utf-8"))["records"]
    summary = Pipeline.create(tmp_path / "out").run(raw)
    read = {s.system: s.read for s in summary.sources}
    assert read == written
    assert all(s.read == s.accepted + s.quarantined for s in summary.sources)
