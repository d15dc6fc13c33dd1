"""The classification scan: content decides, names only hint, evidence is always masked."""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custodata.classification.config import load_config
from custodata.classification.grading import Grading, load_grading
from custodata.classification.recognisers import luhn_ok
from custodata.classification.sampling import open_source, sample_table, source_id
from custodata.classification.scan import ScanReport, scan_table, scan_values
from custodata.errors import ConfigError, SourceError
from custodata.normalise.idnumber import id_check_char
from custodata.normalise.uscc import USCC_ALPHABET, make_uscc

SURNAMES = "王李张刘陈杨黄吴赵周徐孙马朱胡林郭何高罗郑梁谢宋唐许邓冯韩曹曾彭萧蔡潘田董袁"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国志红"
WORDS = ("苹果 电脑 银行 保险 天气 高兴 方便 马上 常见 金融 快乐 学习 工作 朋友 城市 道路 桌子 窗户 时间 问题 "
         "政策 市场 科技 文化 历史 音乐 电影 运动 健康 旅行").split()
ADDRESSES = ("广东省深圳市南山区科技园路{n}号", "北京市朝阳区建国路{n}号院{m}栋", "浙江杭州西湖区文三路{n}号{m}室",
             "上海市浦东新区世纪大道{n}号", "四川省成都市武侯区人民南路{n}号")
REMARKS = ("客户咨询信用卡分期相关事宜，已解答。", "客户来电挂失信用卡（尾号{t}），已办理临时挂失。",
           "客户留言：请拨打{mobile}联系。", "客户投诉处理进度慢，要求尽快回电。回电号码{mobile}。")
MOBILE_PREFIXES = ("138", "139", "150", "186", "177", "199")


def _id(rng: random.Random, *, valid: bool = True) -> str:
    born = f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = rng.choice(("110105", "440305", "310104", "510107")) + born + f"{rng.randint(0, 999):03d}"
    check = id_check_char(first17)
    if not valid:  # an order number that merely looks like an ID: any check character but the right one
        check = rng.choice([c for c in "0123456789" if c != check])
    return first17 + check


def _card(rng: random.Random, *, valid: bool = True) -> str:
    first = "6228" + "".join(rng.choice("0123456789") for _ in range(11))
    right = next(d for d in "0123456789" if luhn_ok(first + d))
    return first + (right if valid else rng.choice([d for d in "0123456789" if d != right]))


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 10**8 - 1):08d}"


def make_rows(n: int = 300, seed: int = 11) -> list[dict[str, str]]:
    """Named, unnamed and decoy columns; decoys look right to a pattern and fail validation."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        remark = rng.choice(REMARKS).format(t=rng.randint(1000, 9999), mobile=_mobile(rng))
        rows.append({
            "cust_name": name,
            "id_no": _id(rng),
            "mobile": _mobile(rng) if i % 3 else "+86 " + _mobile(rng),
            "card_no": _card(rng),
            "c05": rng.choice(ADDRESSES).format(n=rng.randint(1, 999), m=rng.randint(1, 30)),
            "c06": f"{_mobile(rng)[:3]}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",  # unnamed mobiles
            "c07": make_uscc("91" + rng.choice(("4403", "1101", "3101")) + "00" +
                             "".join(rng.choice(USCC_ALPHABET) for _ in range(9))),
            "c08": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(2)),  # unnamed names
            "order_no": _id(rng, valid=False),  # 18 digits failing the ID checksum
            "id_card": _id(rng, valid=False),  # named like an ID, still failing the checksum
            "ref_no": rng.choice("2345689") + f"{rng.randint(0, 10**10 - 1):010d}",  # 11 digits, no mobile prefix
            "txn_ref": _card(rng, valid=False),  # 16 digits failing Luhn
            "words": rng.choice(WORDS),
            "english": " ".join(rng.choice(("apple", "river", "stone", "cloud", "green")) for _ in range(2)),
            "remark": remark,
            "birth_date": f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "open_dt": f"{rng.randint(2010, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "status": rng.choice(("正常", "冻结", "销户")),
        })
    return rows


EXPECTED: dict[str, str | None] = {
    "cust_name": "person_name", "id_no": "id_number", "mobile": "mobile", "card_no": "bank_card",
    "c05": "address", "c06": "mobile", "c07": "uscc", "c08": "person_name",
    "order_no": None, "id_card": None, "ref_no": None, "txn_ref": None, "words": None, "english": None,
    "remark": "free_text", "birth_date": "birth_date", "open_dt": None, "status": None,
}


# --------------------------------------------------------------------------- one table, every backend

def _csv(rows: list[dict[str, str]], folder: Path) -> tuple[str, str | None]:
    path = folder / "customers.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path), None


def _csv_gb18030(rows: list[dict[str, str]], folder: Path) -> tuple[str, str | None]:
    path = folder / "customers_gbk.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return str(path), None


def _jsonl(rows: list[dict[str, str]], folder: Path) -> tuple[str, str | None]:
    path = folder / "customers.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path), None


def _parquet(rows: list[dict[str, str]], folder: Path) -> tuple[str, str | None]:
    path = folder / "customers.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path), None


def _sqlite(rows: list[dict[str, str]], folder: Path) -> tuple[str, str | None]:
    path = folder / "core.db"
    con = sqlite3.connect(path)
    cols = list(rows[0])
    con.execute(f"CREATE TABLE customer ({', '.join(f'{c} TEXT' for c in cols)})")
    con.executemany(f"INSERT INTO customer VALUES ({', '.join('?' for _ in cols)})",
                    [tuple(r[c] for c in cols) for r in rows])
    con.commit()
    con.close()
    return f"sqlite:///{path}", "customer"


def _duckdb(rows: list[dict[str, str]], folder: Path) -> tuple[str, str | None]:
    path = folder / "custodata.duckdb"
    arrow = pa.Table.from_pylist(rows)  # noqa: F841  (read by name in the SQL below)
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA business")
    con.execute("CREATE TABLE business.card AS SELECT * FROM arrow")
    con.close()
    return str(path), "business.card"


BACKENDS: dict[str, Callable[[list[dict[str, str]], Path], tuple[str, str | None]]] = {
    "csv": _csv, "csv_gb18030": _csv_gb18030, "jsonl": _jsonl, "parquet": _parquet, "sqlite": _sqlite,
    "duckdb": _duckdb,
}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return make_rows()


@pytest.fixture(scope="module", params=list(BACKENDS))
def report(request: pytest.FixtureRequest, rows: list[dict[str, str]],
           tmp_path_factory: pytest.TempPathFactory) -> ScanReport:
    source, table = BACKENDS[request.param](rows, tmp_path_factory.mktemp(request.param))
    return scan_table(source, table=table)


@pytest.mark.parametrize("column", list(EXPECTED))
def test_content_decides_on_every_backend(report: ScanReport, column: str) -> None:
    finding = report.column(column)
    assert finding.type == EXPECTED[column], finding.explanation
    assert finding.explanation


def test_report_counts_and_grades(report: ScanReport, rows: list[dict[str, str]]) -> None:
    assert report.rows_sampled == len(rows) and report.rows_total == len(rows)
    assert [c.column for c in report.columns] == list(rows[0])
    grading = load_grading()
    for c in report.sensitive():
        assert c.sampled == len(rows) and 0 < c.confidence <= 1 and c.recogniser
        if c.type != "free_text":
            assert (c.category, c.level, c.label) == (grading.types[c.type].category, grading.types[c.type].level,
                                                       grading.types[c.type].label)
    json.loads(report.to_json())  # JSON-able as it stands


def test_evidence_is_masked(report: ScanReport, rows: list[dict[str, str]]) -> None:
    for c in report.columns:
        values = {r[c.column] for r in rows}
        assert len(c.evidence) == (min(3, len({*c.evidence})) if c.type else 0)
        for shown in c.evidence:
            assert "*" in shown
            assert not any(len(v) > 2 and v in shown for v in values), (c.column, shown)


def test_free_text_level_is_at_least_free_text(report: ScanReport) -> None:
    remark = report.column("remark")
    assert remark.embedded.get("mobile", 0) > 0
    assert remark.level == load_grading().types["free_text"].level
    assert all(e.startswith("mobile: ") for e in remark.evidence)


# --------------------------------------------------------------------------- the scan's rules

def test_names_only_lower_the_bar() -> None:
    rng = random.Random(3)
    mixed = [_mobile(rng) if i % 10 < 6 else f"{rng.randint(10**10, 2 * 10**10)}" for i in range(200)]
    assert scan_values("c01", mixed).type is None  # 60% valid: not enough without a name
    named = scan_values("contact_mobile", mixed)
    assert named.type == "mobile" and "name agrees" in named.explanation
    lenient = load_config().scan.model_copy(update={"threshold": 0.55})
    assert scan_values("c01", mixed, settings=lenient).type == "mobile"


def test_hint_only_types_need_the_name() -> None:
    dates = [f"19{60 + i % 40}-0{1 + i % 9}-1{i % 10}" for i in range(100)]
    assert scan_values("BIRTH_DT", dates).type == "birth_date"
    assert scan_values("BBRCSRQ", dates).type == "birth_date"  # pinyin initials of 出生日期
    assert scan_values("c03", dates).type is None
    amounts = [f"{i * 3.17:.2f}" for i in range(100)]
    assert scan_values("BAL", amounts).type == "amount"
    assert scan_values("c04", amounts).type is None


def test_name_hint_without_content_is_explained() -> None:
    finding = scan_values("mobile", ["encrypted:" + "ab" * i for i in range(50)])
    assert finding.type is None
    assert "name suggests mobile" in finding.explanation


def test_person_names_are_judged_by_the_column() -> None:
    rng = random.Random(5)
    # every value is a family name + one character, yet the column is a handful of product words
    products = [rng.choice(("白金卡", "金卡", "高端卡", "车主卡")) for _ in range(200)]
    assert scan_values("c09", products).type is None
    words = [rng.choice(WORDS) for _ in range(200)]
    assert scan_values("c10", words).type is None


def test_free_text_level_is_the_highest_embedded() -> None:
    grading = load_grading()
    low = Grading.model_validate({
        **grading.model_dump(),
        "types": {**grading.model_dump()["types"], "free_text": {"label": "备注", "category": "C1", "level": 2}},
    })
    texts = [f"客户来电，登记身份证号{_id(random.Random(i))}。" if i % 4 == 0 else "客户来电咨询。" for i in range(100)]
    finding = scan_values("c11", texts, grading=low)
    assert (finding.type, finding.level, finding.category) == ("free_text", 4, "C2")
    assert finding.embedded == {"id_number": 25}
    plain = scan_values("c12", ["客户来电咨询理财产品，已解答。"] * 50)
    assert plain.type is None
    assert scan_values("remark", ["客户来电咨询理财产品，已解答。"] * 50).type == "free_text"  # remarks, by name


def test_empty_column() -> None:
    finding = scan_values("c01", [None, "", "  "])
    assert (finding.type, finding.sampled) == (None, 0)


def test_sample_size_caps_values_per_column(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    source, _ = _parquet(rows, tmp_path)
    report = scan_table(source, sample=40)
    assert report.sample == 40 and all(c.sampled <= 40 for c in report.columns)
    assert report.column("c07").type == "uscc"
    sample = sample_table(source, rows=50, per_column=10)
    assert sample.rows_sampled == 50 and sample.rows_total == len(rows)
    assert all(len(c.values) == 10 for c in sample.columns)


@pytest.mark.parametrize(("kwargs", "message"), [({"sample": 0}, "sample must be"), ({"threshold": 1.5}, "threshold")])
def test_bad_settings(tmp_path: Path, rows: list[dict[str, str]], kwargs: dict[str, float], message: str) -> None:
    source, _ = _csv(rows, tmp_path)
    with pytest.raises(ConfigError, match=message):
        scan_table(source, **kwargs)  # type: ignore[arg-type]


def test_demo_exports(tmp_path: Path) -> None:
    """The generated card system's export (';'-delimited UTF-8) and health system's (GB18030)."""
    from custodata.demo.sources import generate

    files = generate(200, 5, tmp_path).files
    cards = scan_table(files["card_core"])
    found = {c.column: c.type for c in cards.columns}
    assert found == {
        "CARD_NO": "bank_card", "CARD_PRD": None, "CRD_LMT": "amount", "CUST_NAME": "person_name",
        "EMB_NAME": "person_name", "ID_NO": "id_number", "BIRTH_DT": "birth_date", "MOBILE": "mobile",
        "EMAIL": "email", "BILL_ADDR": "address", "OPEN_DT": None, "CHURN_PROB": None, "LAST_MNT_TS": None,
    }
    health = scan_table(files["health_core"])
    assert health.column("TBRZJHM").type == "id_number" and health.column("TBRGDDH").type == "landline"
    tickets = scan_table(files["service_desk"])
    assert tickets.column("remark").type == "free_text" and tickets.column("caller_mobile").type == "mobile"
    deposits = scan_table(files["deposit_core"])
    assert deposits.column("USCC_CD").type == "uscc" and deposits.column("ACCT_NO").type == "account_number"


# --------------------------------------------------------------------------- bad input

def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("make", "table", "message"),
    [
        (lambda d: str(d / "missing.csv"), None, "missing.csv: file not found"),
        (lambda d: str(d), None, "unknown file type"),
        (lambda d: _write(d / "x.xlsx", b"PK"), None, "unknown file type '.xlsx'"),
        (lambda d: _write(d / "empty.csv", b""), None, "empty CSV file"),
        (lambda d: _write(d / "bad.parquet", b"not parquet"), None, "cannot read as parquet"),
        (lambda d: _write(d / "x.csv", b"a,b\n1,2\n"), "t", "--table applies to a .duckdb store"),
        (lambda d: f"sqlite:///{d}/missing.db", "t", "missing.db not found"),
        (lambda d: "sqlite://", None, "name the table to scan with --table"),
        (lambda d: "sqlite://", "nope", "no table 'nope'"),
        (lambda d: "nosuchdriver://x/y", "t", "cannot connect"),
        (lambda d: _write(d / "x.duckdb", b"not a database"), "a.b", "x.duckdb"),
    ],
)
def test_bad_input_is_one_source_error(tmp_path: Path, make: Callable[[Path], str], table: str | None,
                                       message: str) -> None:
    with pytest.raises(SourceError) as info:
        scan_table(make(tmp_path), table=table)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_store_table_errors(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    source, _ = _duckdb(rows, tmp_path)
    with pytest.raises(SourceError, match="name one with --table .*business.card"):
        scan_table(source)
    with pytest.raises(SourceError, match="no table 'business.cards'"):
        scan_table(source, table="business.cards")


def test_source_ids_are_stable_and_password_free(tmp_path: Path) -> None:
    assert source_id("postgresql://steward:s3cret@db/core", "public.customer") == \
        "postgresql://steward:***@db/core#public.customer"
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    assert source_id(tmp_path / "a.csv") == str((tmp_path / "a.csv").resolve())
    assert open_source(str(tmp_path / "s.duckdb"), "business.card").source_id.endswith("s.duckdb#business.card")


def test_protected_columns_are_graded_by_their_field() -> None:
    from custodata.classification.scan import CIPHERTEXT_PREFIX, TOKEN_PREFIX
    from custodata.crypto.envelope import PREFIX
    from custodata.crypto.envelope import TOKEN_PREFIX as ENVELOPE_TOKEN_PREFIX

    assert (CIPHERTEXT_PREFIX, TOKEN_PREFIX) == (PREFIX + ":", ENVELOPE_TOKEN_PREFIX + ":")
    sealed = [f"cd1:b-{i}:" + "QUJD" * 12 for i in range(40)]
    tokens = [f"tk1:{'x' * 20}{i}" for i in range(40)]
    finding = scan_values("id_number", sealed)
    assert (finding.type, finding.level, finding.recogniser) == ("id_number", 4, "custodata_ciphertext")
    assert finding.evidence == ("cd1:********",) and "canonical field 'id_number'" in finding.explanation
    assert scan_values("mobile_token", tokens).type == "mobile"
    assert scan_values("TBR_SJHM", sealed).type == "mobile"  # by the name hint
    unnamed = scan_values("c01", sealed)
    assert unnamed.type is None and "custodata catalogue override" in unnamed.explanation
