"""The demo financial group's source exports: deterministic, consistent with their ground
truth and their mappings, and carrying every fault the pipeline must cope with."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pypinyin import lazy_pinyin

from custodata.demo.sources import FaultRates, GenerateResult, generate
from custodata.normalise.idnumber import IdStatus, check_id
from custodata.normalise.phone import normalise_mobile
from custodata.normalise.regions import load_regions, province_short
from custodata.normalise.text import to_halfwidth, to_simplified
from custodata.normalise.uscc import check_uscc
from custodata.quality import QuarantineReason as Q
from custodata.sources import SourceMapping, default_mappings_dir, load_mappings

CUSTOMERS = 2000
SEED = 11


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    return generate(CUSTOMERS, SEED, tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def mappings() -> dict[str, SourceMapping]:
    return {m.system: m for m in load_mappings(default_mappings_dir())}


@dataclass
class Source:
    """One system's export as the tests see it: parsed rows plus what could not be parsed."""

    columns: list[str]
    rows: list[dict[str, str | None]] = field(default_factory=list)
    by_key: dict[str, dict[str, str | None]] = field(default_factory=dict)
    bad_encoding: int = 0
    malformed: int = 0
    missing_key: int = 0


def _csv_source(path: Path, m: SourceMapping) -> Source:
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    header = lines[0].decode(m.csv.encoding).rstrip("\r").split(m.csv.delimiter)
    src = Source(header)
    for line in lines[1:]:
        try:
            text = line.decode(m.csv.encoding).rstrip("\r")
        except UnicodeDecodeError:
            src.bad_encoding += 1
            continue
        try:
            values = next(csv.reader([text], delimiter=m.csv.delimiter, strict=True))
        except csv.Error:
            values = []
        if len(values) != len(header):
            src.malformed += 1
            continue
        src.rows.append({c: (v or None) for c, v in zip(header, values, strict=True)})
    return src


def _jsonl_source(path: Path) -> Source:
    src = Source([])
    keys: dict[str, None] = {}
    for line in path.read_bytes().splitlines():
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            src.bad_encoding += 1
            continue
        except ValueError:
            src.malformed += 1
            continue
        keys.update(dict.fromkeys(obj))
        src.rows.append({k: None if v is None else str(v) for k, v in obj.items()})
    src.columns = list(keys)
    return src


def _read(result: GenerateResult, m: SourceMapping) -> Source:
    path = result.files[m.system]
    if m.format == "csv":
        src = _csv_source(path, m)
    elif m.format == "jsonl":
        src = _jsonl_source(path)
    elif m.format == "parquet":
        table = pq.read_table(path)
        src = Source(table.column_names)
        src.rows = [{k: None if v is None else str(v) for k, v in r.items()}
                    for r in table.to_pylist()]
    else:
        assert m.url == "sqlite:///loans.db" and path.name == "loans.db"
        con = sqlite3.connect(path)
        cur = con.execute(f"SELECT * FROM {m.table}")
        src = Source([d[0] for d in cur.description])
        src.rows = [{c: None if v is None else str(v) for c, v in zip(src.columns, r, strict=True)}
                    for r in cur.fetchall()]
        con.close()
    for row in src.rows:
        key = row.get(m.record_key)
        if key:
            src.by_key[key] = row
        else:
            src.missing_key += 1
    return src


@pytest.fixture(scope="module")
def sources(result: GenerateResult, mappings: dict[str, SourceMapping]) -> dict[str, Source]:
    return {s: _read(result, m) for s, m in mappings.items()}


@pytest.fixture(scope="module")
def truth(result: GenerateResult) -> list[dict[str, str]]:
    with result.ground_truth.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Obs:
    system: str
    key: str
    role: str
    eid: str
    kind: str
    values: dict[str, str]  # canonical party field -> raw value


@pytest.fixture(scope="module")
def observations(
    truth: list[dict[str, str]], sources: dict[str, Source], mappings: dict[str, SourceMapping]
) -> list[Obs]:
    """Every valid party observation with its raw values under canonical names."""
    out = []
    for t in truth:
        if t["invalid_reason"]:
            continue
        m = mappings[t["system"]]
        row = sources[t["system"]].by_key[t["record_key"]]
        party = next(p for p in m.parties if p.role == t["role"])
        values = {canon: row[col] for col, canon in party.fields.items() if row.get(col)}
        out.append(Obs(t["system"], t["record_key"], t["role"], t["entity_id"], t["entity_kind"],
                       values))  # type: ignore[arg-type]
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --------------------------------------------------------------------------- determinism


def test_same_seed_writes_identical_bytes(result: GenerateResult, tmp_path: Path) -> None:
    again = generate(CUSTOMERS, SEED, tmp_path / "again")
    assert _files(result.out) == _files(again.out)
    assert again.records == result.records and again.invalid == result.invalid


def test_same_bytes_in_another_process(tmp_path: Path) -> None:
    """No set or dict ordering leaks into the output: string hashing differs per process."""
    code = "import sys; from pathlib import Path; from custodata.demo.sources import generate; " \
           "generate(300, 5, Path(sys.argv[1]))"
    for n in (1, 2):
        env = {**os.environ, "PYTHONHASHSEED": str(n)}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / str(n))], check=True, env=env)
    assert _files(tmp_path / "1") == _files(tmp_path / "2")


def test_another_seed_writes_other_data(tmp_path: Path) -> None:
    a = generate(200, 1, tmp_path / "a")
    b = generate(200, 2, tmp_path / "b")
    assert _files(a.out)["ground_truth.csv"] != _files(b.out)["ground_truth.csv"]


def test_too_few_customers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(0, 1, tmp_path)
    tiny = generate(1, 1, tmp_path / "tiny")
    assert tiny.persons == 1 and tiny.companies == 0 and sum(tiny.records.values()) >= 1
    assert all(path.exists() for path in tiny.files.values())  # empty exports still exist
    assert pq.read_table(tiny.files["deposit_core"]).num_rows == tiny.records["deposit_core"]


# --------------------------------------------------------------------------- counts


def test_result_and_manifest(result: GenerateResult, truth: list[dict[str, str]]) -> None:
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["records"] == dict(result.records)
    assert manifest["invalid"] == dict(result.invalid)
    assert manifest["persons"] + manifest["companies"] == CUSTOMERS
    assert result.companies == round(CUSTOMERS * 0.05)
    assert result.observations == len(truth)
    total = sum(result.records.values())
    assert 2.3 * CUSTOMERS <= total <= 2.8 * CUSTOMERS  # ~2.5 source records per customer
    entities = {(t["entity_id"], t["entity_kind"]) for t in truth}
    assert len(entities) == CUSTOMERS  # every true customer is observed somewhere
    assert all(k == ("individual" if e[0] == "P" else "corporate") for e, k in entities)
    reasons = Counter(t["invalid_reason"] for t in truth if t["invalid_reason"])
    assert set(reasons) <= {r.value for r in Q}


def test_ground_truth_matches_every_file(
    result: GenerateResult, truth: list[dict[str, str]], sources: dict[str, Source]
) -> None:
    records: dict[str, set[tuple[str, bool]]] = defaultdict(set)
    valid_keys: dict[str, set[str]] = defaultdict(set)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for t in truth:
        reason = t["invalid_reason"]
        if (t["record_key"], reason == Q.DUPLICATE_RECORD) not in records[t["system"]]:
            reasons[t["system"]][reason] += 1
        records[t["system"]].add((t["record_key"], reason == Q.DUPLICATE_RECORD))
        if reason not in (Q.MISSING_RECORD_KEY, Q.CSV_MALFORMED, Q.ENCODING_INVALID):
            valid_keys[t["system"]].add(t["record_key"])
    for system, src in sources.items():
        parsed = len(src.rows) + src.bad_encoding + src.malformed
        assert parsed == result.records[system] == len(records[system]), system
        assert set(src.by_key) == valid_keys[system], system
        assert src.missing_key == reasons[system][Q.MISSING_RECORD_KEY], system
        assert src.bad_encoding == reasons[system][Q.ENCODING_INVALID], system
        assert src.malformed == reasons[system][Q.CSV_MALFORMED], system


# --------------------------------------------------------------------------- mappings


def test_mappings_cover_every_system_and_column(
    result: GenerateResult, mappings: dict[str, SourceMapping], sources: dict[str, Source]
) -> None:
    assert set(mappings) == set(result.files)
    for system, m in mappings.items():
        if m.format != "sql":
            assert m.path == result.files[system].name
        missing = set(m.columns()) - set(sources[system].columns)
        assert not missing, f"{system}: mapped columns not in the export: {missing}"
        assert m.label and 0 <= m.trust <= 100
    assert mappings["deposit_core"].trust > mappings["service_desk"].trust
    assert mappings["health_core"].csv.encoding == "gb18030"
    assert mappings["card_core"].csv.delimiter == ";"


def test_declared_date_formats_parse_every_valid_date(
    truth: list[dict[str, str]], sources: dict[str, Source], mappings: dict[str, SourceMapping]
) -> None:
    bad_dates = {(t["system"], t["record_key"]) for t in truth
                 if t["invalid_reason"] == Q.DATE_INVALID}
    for system, m in mappings.items():
        columns = [c for c, f in m.fields.items() if f in ("start_date", "end_date")]
        columns += [c for p in m.parties for c, f in p.fields.items() if f == "birth_date"]
        columns.append(m.updated_at or "")
        for key, row in sources[system].by_key.items():
            for c in columns:
                value = row.get(c)
                if not value or (system, key) in bad_dates:
                    continue
                assert any(_parses(value, f) for f in m.date_formats), (system, c, value)
        for key in (k for s, k in bad_dates if s == system and k in sources[system].by_key):
            row = sources[system].by_key[key]
            values = [row[c] for c in columns[:-1] if row.get(c)]
            assert any(not any(_parses(v, f) for f in m.date_formats) for v in values)  # type: ignore[arg-type]


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- validity


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(number)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def test_valid_rows_carry_valid_identifiers(
    observations: list[Obs], sources: dict[str, Source], truth: list[dict[str, str]]
) -> None:
    for o in observations:
        if "id_number" in o.values:
            assert check_id(o.values["id_number"]) == IdStatus.OK, o
        if "uscc" in o.values:
            assert check_uscc(o.values["uscc"]) == IdStatus.OK, o
            assert o.kind == "corporate"
        if "mobile" in o.values:
            assert normalise_mobile(o.values["mobile"]), o
    cards = sources["card_core"].by_key
    assert cards and all(len(k) == 16 and k.startswith("62") and _luhn_ok(k) for k in cards)
    for t in truth:
        src = sources[t["system"]].by_key.get(t["record_key"])
        if t["invalid_reason"] == Q.ID_CHECKSUM and src:
            assert any(check_id(v) == IdStatus.CHECKSUM for v in src.values() if v)
        if t["invalid_reason"] == Q.USCC_INVALID and src:
            assert any(check_uscc(v) == IdStatus.CHECKSUM for v in src.values() if v)


def test_birth_date_and_gender_agree_with_the_id(observations: list[Obs]) -> None:
    health = [o for o in observations if o.system == "health_core" and o.role == "insured"]
    assert health
    for o in health:
        id18 = to_halfwidth(o.values["id_number"])
        if len(id18) == 15:
            id18 = id18[:6] + "19" + id18[6:] + "0"
        born = o.values["birth_date"]
        assert any(_parses(born, f) and datetime.strptime(born, f).strftime("%Y%m%d") == id18[6:14]
                   for f in ("%Y年%m月%d日", "%Y.%m.%d"))
        assert o.values["gender"] == ("男" if int(id18[16]) % 2 else "女")


# --------------------------------------------------------------------------- faults


def test_every_invalid_reason_is_injected(result: GenerateResult) -> None:
    expected = {Q.ID_CHECKSUM, Q.DATE_INVALID, Q.CSV_MALFORMED, Q.ENCODING_INVALID,
                Q.AMOUNT_INVALID, Q.DUPLICATE_RECORD, Q.MISSING_RECORD_KEY, Q.USCC_INVALID}
    assert expected <= set(result.invalid)
    assert 0.005 < sum(result.invalid.values()) / sum(result.records.values()) < 0.03


def test_amounts_of_amount_invalid_rows_are_not_numbers(
    truth: list[dict[str, str]], sources: dict[str, Source], mappings: dict[str, SourceMapping]
) -> None:
    seen = 0
    for t in truth:
        if t["invalid_reason"] == Q.AMOUNT_INVALID:
            m = mappings[t["system"]]
            amount = next(c for c, f in m.fields.items() if f == "amount")
            value = sources[t["system"]].by_key[t["record_key"]][amount]
            with pytest.raises(ValueError):
                float(value or "")
            seen += 1
    assert seen


def test_duplicate_record_is_an_exact_copy(
    truth: list[dict[str, str]], result: GenerateResult
) -> None:
    dups = {(t["system"], t["record_key"]) for t in truth
            if t["invalid_reason"] == Q.DUPLICATE_RECORD}
    jsonl = [(s, k) for s, k in dups if s in ("accident_core", "service_desk")]
    assert dups
    for system, key in jsonl:
        lines = [x for x in result.files[system].read_bytes().splitlines() if key.encode() in x]
        assert len(lines) >= 2 and len(set(lines)) < len(lines)


def _individuals(observations: list[Obs]) -> dict[str, list[Obs]]:
    by: dict[str, list[Obs]] = defaultdict(list)
    for o in observations:
        if o.kind == "individual":
            by[o.eid].append(o)
    return by


def _clean_name(name: str) -> str:
    return to_simplified(name).replace(" ", "")


def test_names_carry_homophone_typos_and_common_names(observations: list[Obs]) -> None:
    typos = 0
    for obs in _individuals(observations).values():
        names = sorted({_clean_name(o.values["name"]) for o in obs if "name" in o.values
                        and not o.values["name"].endswith(("先生", "女士"))})
        for a, b in zip(names, names[1:], strict=False):
            diff = [i for i in range(len(a)) if len(a) == len(b) and a[i] != b[i]]
            if len(diff) == 1 and lazy_pinyin(a) == lazy_pinyin(b):
                typos += 1
    assert typos >= 3
    holders: dict[str, set[str]] = defaultdict(set)
    for o in observations:
        if o.kind == "individual" and "name" in o.values:
            holders[_clean_name(o.values["name"])].add(o.eid)
    assert max(len(e) for e in holders.values()) >= 4  # e.g. 王伟, 张伟: many different people


def test_traditional_characters_and_full_width_digits(observations: list[Obs]) -> None:
    health = [o for o in observations if o.system == "health_core"]
    assert any(to_simplified(v) != v for o in health for v in o.values.values())
    ids_mobiles = [o.values.get(f, "") for o in observations for f in ("id_number", "mobile")]
    assert any(re.search("[０-９]", v) for v in ids_mobiles)


def test_old_ids_only_for_persons_born_before_2000(observations: list[Obs]) -> None:
    old = [o for o in observations if len(to_halfwidth(o.values.get("id_number", ""))) == 15]
    assert old
    assert all(o.system in ("auto_core", "health_core", "deposit_core") for o in old)
    # the 15-digit ID is the same person's 18-digit ID without century and check digit
    ids = defaultdict(set)
    for o in observations:
        if "id_number" in o.values:
            ids[o.eid].add(to_halfwidth(o.values["id_number"]))
    for o in old:
        old_id = to_halfwidth(o.values["id_number"])
        long = [i for i in ids[o.eid] if len(i) == 18]
        assert all(i[:6] + i[8:17] == old_id and i[6:8] == "19" for i in long)


def test_service_tickets_rarely_carry_ids(observations: list[Obs]) -> None:
    tickets = [o for o in observations if o.system == "service_desk"]
    assert tickets
    assert sum("id_number" not in o.values for o in tickets) / len(tickets) > 0.7
    assert any(o.values.get("name", "").endswith(("先生", "女士")) for o in tickets)


def test_remarks_quote_mobiles(sources: dict[str, Source]) -> None:
    remarks = [r["remark"] or "" for r in sources["service_desk"].rows]
    assert any(re.search(r"1[3-9]\d{9}", r) for r in remarks)


def test_changed_mobiles_and_many_phone_formats(observations: list[Obs]) -> None:
    changed = 0
    for obs in _individuals(observations).values():
        if len({normalise_mobile(o.values["mobile"]) for o in obs if "mobile" in o.values}) > 1:
            changed += 1
    assert changed >= 5
    shapes = {re.sub(r"\d", "9", o.values["mobile"]) for o in observations if "mobile" in o.values}
    assert {"99999999999", "999-9999-9999", "+99 99999999999", "+9999999999999"} <= shapes


def test_several_date_formats_per_system(sources: dict[str, Source]) -> None:
    def shapes(system: str, column: str) -> set[str]:
        return {re.sub(r"\d+", "9", r[column] or "") for r in sources[system].rows}

    assert {"9-9-9", "9/9/9"} <= shapes("auto_core", "QBRQ")
    assert {"9/9/9", "9-9-9"} <= shapes("accident_core", "effDate")
    assert {"9年9月9日", "9.9.9"} <= shapes("health_core", "SXRQ")


def test_addresses_with_and_without_province(observations: list[Obs]) -> None:
    regions = load_regions()
    full = {r.province for r in regions if r.province != r.city}
    short = {province_short(p) for p in full}
    cities = {r.city for r in regions if r.province != r.city}
    addresses = [o.values["address"] for o in observations if "address" in o.values]
    starts = Counter(
        "full" if a.startswith(tuple(full)) else "city" if a.startswith(tuple(cities))
        else "short" if a.startswith(tuple(short)) else "other" for a in addresses)
    assert starts["full"] and starts["city"] and starts["short"], starts


def test_duplicates_households_and_relationships(
    observations: list[Obs], sources: dict[str, Source], truth: list[dict[str, str]]
) -> None:
    per_system = Counter((o.system, o.role, o.eid) for o in observations)
    assert sum(n > 1 for n in per_system.values()) > 20
    sharing: dict[str, set[str]] = defaultdict(set)
    for o in observations:
        for f in ("phone", "mobile"):
            if o.kind == "individual" and o.values.get(f):
                sharing[f + ":" + (normalise_mobile(o.values[f]) or o.values[f])].add(o.eid)
    assert any(k.startswith("phone:") and len(v) >= 2 for k, v in sharing.items())
    assert any(k.startswith("mobile:") and len(v) >= 2 for k, v in sharing.items())
    eids = {(t["system"], t["record_key"], t["role"]): t["entity_id"] for t in truth}
    family = 0
    for key, row in sources["health_core"].by_key.items():
        if row["SYRGX"] in ("配偶", "子女", "父母"):
            assert eids[("health_core", key, "beneficiary")] != eids[("health_core", key, "insured")]
            family += 1
    assert family


def test_corporate_customers(observations: list[Obs]) -> None:
    corp = [o for o in observations if o.kind == "corporate"]
    assert corp and all("uscc" in o.values for o in corp)
    names: dict[str, set[str]] = defaultdict(set)
    for o in corp:
        names[o.eid].add(o.values["name"])
    assert any(len(n) > 1 for n in names.values())
    assert any("（" in n for ns in names.values() for n in ns)
    assert any(n.startswith("(") for ns in names.values() for n in ns)
    contacts = [o for o in observations if o.role == "contact" and o.system != "service_desk"]
    assert contacts and all(o.kind == "individual" for o in contacts)
    group = [o for o in observations if o.system == "accident_core" and o.kind == "corporate"]
    assert group


def test_no_faults_when_rates_are_zero(tmp_path: Path) -> None:
    clean = FaultRates(homophone=0, traditional=0, full_width=0, old_id=0, phone_change=0,
                       format_variant=0, duplicate=0, company_variant=0, invalid=0,
                       truncated_tail=False)
    res = generate(300, 3, tmp_path, rates=clean)
    assert not res.invalid
    with res.ground_truth.open(encoding="utf-8", newline="") as fh:
        assert not any(t["invalid_reason"] for t in csv.DictReader(fh))
    auto = res.files["auto_core"].read_text(encoding="utf-8")
    assert not re.search("[０-９]", auto) and auto.endswith("\n")
