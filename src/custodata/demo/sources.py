"""Demo data of a financial group (银行 + 保险): seven source systems' raw exports.

``generate(customers, seed, out)`` invents a population of persons (in
households) and companies, lets each of them hold policies, accounts, cards,
loans and service tickets, and writes every system's export in the format and
with the habits of a real legacy system: its own column names, date and phone
formats, encodings and delimiters.  On top come the faults real data has
(homophone typos from pinyin input, traditional characters, full-width digits,
old 15-digit IDs, changed mobiles, address written with and without province,
company-name variants, duplicates inside a system) and ~1% plainly invalid
rows, each tagged with the quarantine reason the pipeline should give it.

Everything is drawn from one ``random.Random(seed)``: the same seed writes the
same bytes.  ``ground_truth.csv`` says which true person or company every
party observation is (``system, record_key, role``), for tests and benchmarks
only.  Its ``record_key`` is the key the generator gave the record, even where
the file does not show it (MISSING_RECORD_KEY, broken lines); an exact
duplicate row (DUPLICATE_RECORD) repeats its original's key.
"""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from custodata.normalise.idnumber import id_check_char
from custodata.normalise.regions import Region, city_short, load_regions, province_short
from custodata.normalise.uscc import make_uscc
from custodata.private_files import private_dir, private_file
from custodata.quality import QuarantineReason as Q

if TYPE_CHECKING:
    from custodata.engine.store import BatchStore
    from custodata.sources.mapping import SourceMapping

AS_OF = date(2024, 6, 30)  # the day the exports were taken: fixed, so output is reproducible
_AS_OF = AS_OF.toordinal()
_D2019 = date(2019, 1, 1).toordinal()

Progress = Callable[[str, int, int], None]
_T = TypeVar("_T")


@dataclass(frozen=True)
class FaultRates:
    """How often each fault is injected (fractions of rows or observations)."""

    homophone: float = 0.03  # a name typed with a same-pinyin character (张伟 → 张玮)
    traditional: float = 0.05  # health rows written in HK/TW branches, in traditional characters
    full_width: float = 0.02  # IDs and mobiles typed with full-width digits
    old_id: float = 0.05  # 15-digit IDs in old systems (persons born before 2000)
    phone_change: float = 0.06  # persons whose newer records carry a new mobile
    format_variant: float = 0.05  # another date/phone format than the system's habit
    duplicate: float = 0.03  # the same record entered twice with a new key and small variations
    company_variant: float = 0.35  # company name written as a variant ((深圳)… / 深圳…)
    invalid: float = 0.012  # plainly invalid rows, each with a quarantine reason
    truncated_tail: bool = True  # each CSV export ends in a line cut off inside a quoted field


@dataclass(frozen=True)
class GenerateResult:
    """What ``generate`` wrote."""

    out: Path
    files: Mapping[str, Path]  # system -> its raw export
    ground_truth: Path
    manifest: Path
    records: Mapping[str, int]  # rows written per system, invalid ones included
    observations: int  # rows of ground_truth.csv
    persons: int  # true persons
    companies: int  # true companies
    invalid: Mapping[str, int]  # quarantine reason -> rows injected


# --------------------------------------------------------------------------- pools

_PROVINCE_CODE = dict(zip(
    "北京 天津 河北 山西 内蒙古 辽宁 吉林 黑龙江 上海 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 广西 海南 重庆 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆".split(),
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 "
    "65".split(), strict=True))
_PLATE = dict(zip(_PROVINCE_CODE.values(), "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新",
                  strict=True))
_PHONE_AREA = {"北京市": "010", "上海市": "021", "天津市": "022", "重庆市": "023", "广州市": "020",
               "深圳市": "0755", "南京市": "025", "武汉市": "027", "成都市": "028", "西安市": "029",
               "沈阳市": "024", "杭州市": "0571", "苏州市": "0512", "东莞市": "0769", "佛山市": "0757"}
_MOBILE_PREFIXES = tuple(
    [str(p) for p in range(130, 140)] + ["150", "151", "152", "153", "155", "156", "157", "158",
    "159", "170", "173", "175", "176", "177", "178"] + [str(p) for p in range(180, 190)]
    + ["191", "193", "195", "196", "197", "198", "199"])
_MALE_CHARS = "子浩宇轩俊杰文博志建国明华晨嘉振鹏海峰磊毅辉永庆成家兴德昊天泽然睿诚一凡承思远"
_FEMALE_CHARS = "欣怡梓涵诗雨佳琪婉晓雪梦瑶雅静慧美玉秀兰彤颖悦蕊思宁淑珍月琳菲桂凤晶洁"
# characters people choose for given names: a pinyin IME typo picks one of these, not 危 or 螟
_NAME_LIKE = ("伟玮炜薇威维卫娜纳芳方芬静晶菁敬敏民明铭鸣强蔷磊蕾雷丽莉俐立利军君钧俊峻骏杰洁捷婕秀修英莹瑛"
              "颖华桦骅朋鹏彭平萍红宏鸿虹洪燕艳彦雁妍岩玲琳林霖凌灵霞侠欣新馨心鑫涛韬滔海浩皓昊豪辉晖慧惠蕙"
              "超潮朝斌彬滨兵冰波博柏勇永咏泳宇雨玉语煜钰昱瑜佳嘉家珈建健剑坚婷庭亭霆梅美玫凤峰锋枫丰雪学"
              "琴勤芹沁晨辰琛宸文雯闻志智芝之致子梓紫姿淑舒书倩茜晴清青庆卿雅亚娅涵晗寒翰悦月越跃玥岳兰岚"
              "澜蓝楠南婧靖景京菲飞霏帆凡璐露路怡仪宜依逸艺毅益懿")
_SURNAME_PINYIN = {"单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "朴": "piao", "区": "ou",
                   "查": "zha", "盖": "ge", "乐": "yue", "缪": "miao", "翟": "zhai", "覃": "qin",
                   "召": "shao", "尉": "wei", "长孙": "zhangsun"}
_STREETS = ("人民路 中山路 解放路 建设路 和平路 新华路 胜利路 文化路 青年路 朝阳路 长江路 黄河路 学府路 "
            "科技路 工业大道 滨海大道 东风路 光明路 幸福路 迎宾大道 金融街 花园路 团结路 振兴路 南京路 "
            "北京路 延安路 湖滨路 江滨路 公园路 站前路 育才路 兴业路 创业路 高新路 五一路 八一路 民主路 "
            "健康路 环城东路 环城西路 海景路 桂花路 梧桐街 丽江路 紫荆路 春风路 新民街 东大街 西大街").split()
_COMPOUNDS = ("阳光花园 翠苑小区 金色家园 碧水苑 锦绣公寓 世纪新城 幸福里 海悦花园 东方明珠苑 "
              "绿景佳园 华府 万科城 恒大绿洲 保利花园 名都花园 富丽家园 丽景湾 书香门第").split()
_BRAND_CHARS = "华恒瑞金鑫盛宏泰鼎誉嘉创博润丰信达联中新天宇海永康明星腾卓汇安顺景祥远锦德和兴隆昌"
_TRADES = ("科技 贸易 实业 电子 信息技术 建筑工程 物流 餐饮管理 医药 服饰 机械设备 新材料 环保科技 "
           "文化传媒 供应链管理 食品 农业发展 网络科技 汽车销售服务 装饰工程").split()
_CARD_BINS = ("622588", "625809", "628262", "625965", "622155", "625911")
_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_HALF_WIDTH = str.maketrans("０１２３４５６７８９Ｘ", "0123456789X")
_BAD_AMOUNTS = ("1O500.00", "壹万贰仟元", "约3000", "12.3.4", "#VALUE!", "5千")  # never a placeholder


@dataclass(frozen=True)
class _Place:
    region: Region
    area: str  # 6-digit administrative code used in IDs and USCCs
    phone_area: str
    plate: str  # licence-plate prefix, e.g. 粤B
    full: str  # 广东省深圳市南山区
    short: str  # 广东深圳南山区
    local: str  # 深圳市南山区


@dataclass(frozen=True)
class _Pools:
    surnames: tuple[str, ...]
    surname_cum: tuple[float, ...]
    male_common: tuple[str, ...]
    male_cum: tuple[float, ...]
    female_common: tuple[str, ...]
    female_cum: tuple[float, ...]
    male_chars: str
    female_chars: str
    pinyin: Mapping[str, str]  # character or compound surname -> toneless pinyin
    homophones: Mapping[str, tuple[str, ...]]  # name character -> same-pinyin characters
    places: tuple[_Place, ...]


def _cum(weights: Iterable[float]) -> tuple[float, ...]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return tuple(out)


def _places() -> tuple[_Place, ...]:
    cities: dict[str, list[str]] = {}
    districts: dict[str, list[str]] = {}
    for r in load_regions():
        cities.setdefault(r.province, [])
        if r.city not in cities[r.province]:
            cities[r.province].append(r.city)
        districts.setdefault(r.city, []).append(r.district)
    places = []
    for i, r in enumerate(load_regions()):
        pcode = _PROVINCE_CODE[province_short(r.province)]
        ci = cities[r.province].index(r.city) + 1
        di = districts[r.city].index(r.district) + 1
        city_part = "" if r.city == r.province else r.city
        short_city = "" if r.city == r.province else city_short(r.city)
        places.append(_Place(
            region=r, area=f"{pcode}{ci:02d}{di:02d}",
            phone_area=_PHONE_AREA.get(r.city, f"0{310 + (i * 37) % 680}"),
            plate=_PLATE[pcode] + "ABCDEFGHJKLMN"[(ci - 1) % 13],
            full=f"{r.province}{city_part}{r.district}",
            short=f"{province_short(r.province)}{short_city}{r.district}",
            local=f"{r.city}{r.district}",
        ))
    return tuple(places)


@cache
def _pools() -> _Pools:
    """Name pools, pinyin and homophones: built once per process, independent of the seed."""
    from faker.providers.person.zh_CN import Provider
    from pypinyin import Style, lazy_pinyin

    surnames = tuple(Provider.last_names)
    male_common = tuple(dict.fromkeys(Provider.first_names_male))
    female_common = tuple(dict.fromkeys(Provider.first_names_female))
    male_chars = "".join(dict.fromkeys("".join(male_common) + _MALE_CHARS))
    female_chars = "".join(dict.fromkeys("".join(female_common) + _FEMALE_CHARS))
    # GB2312 level 1: the 3,755 most common characters, in pinyin order
    common = []
    for b1 in range(0xB0, 0xD8):
        for b2 in range(0xA1, 0xFF):
            try:
                common.append(bytes([b1, b2]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    name_chars = set(male_chars) | set(female_chars)
    name_like = name_chars | set(_NAME_LIKE)
    chars = list(dict.fromkeys(common + sorted(name_like)))
    pinyin: dict[str, str] = {}
    for c in chars + [s for s in surnames if len(s) == 1]:
        pinyin[c] = lazy_pinyin(c, style=Style.NORMAL)[0]
    for s in surnames:
        pinyin[s] = _SURNAME_PINYIN.get(s) or "".join(lazy_pinyin(s, style=Style.NORMAL))
    by_reading: dict[str, list[str]] = {}
    for c in chars:
        by_reading.setdefault(pinyin[c], []).append(c)
    homophones: dict[str, tuple[str, ...]] = {}
    for c in sorted(name_chars):  # same toneless pinyin; name-like characters, else common ones
        same = [x for x in by_reading.get(pinyin[c], []) if x != c]
        cands = [x for x in same if x in name_like] or same[:2]
        if cands:
            homophones[c] = tuple(cands)
    single = [s for s in surnames if len(s) == 1]
    for s in single:  # surname typos stay among surnames: 张 → 章, 徐 → 许
        alike = tuple(x for x in single if x != s and pinyin[x] == pinyin[s])
        if alike:
            homophones["surname:" + s] = alike
    return _Pools(
        surnames=surnames, surname_cum=_cum(Provider.last_names.values()),
        # Zipf-like weights: 伟, 芳, 娜 … are far more frequent than the tail of Faker's lists
        male_common=male_common, male_cum=_cum(1 / (i + 5) for i in range(len(male_common))),
        female_common=female_common,
        female_cum=_cum(1 / (i + 5) for i in range(len(female_common))),
        male_chars=male_chars, female_chars=female_chars,
        pinyin=MappingProxyType(pinyin), homophones=MappingProxyType(homophones),
        places=_places(),
    )


# --------------------------------------------------------------------------- population


class _Person:
    __slots__ = ("eid", "family", "given", "name", "male", "birth", "id18", "place", "street",
                 "phone", "mobile", "mobile_new", "mobile_change", "email", "spouse", "children",
                 "parent", "hnw")

    def __init__(self, eid: str, family: str, given: str, male: bool, birth: int) -> None:
        self.eid, self.family, self.given, self.male, self.birth = eid, family, given, male, birth
        self.name = family + given
        self.id18 = ""
        self.place: _Place
        self.street = ""
        self.phone = ""  # household landline
        self.mobile = ""
        self.mobile_new = ""
        self.mobile_change = 0
        self.email = ""
        self.spouse: _Person | None = None
        self.children: list[_Person] = []
        self.parent: _Person | None = None
        self.hnw = False

    def age(self, at: int = _AS_OF) -> int:
        return (at - self.birth) // 365

    @property
    def id15(self) -> str:
        """The pre-1999 ID of the same person (century dropped, no check digit)."""
        return self.id18[:6] + self.id18[8:17]

    def mobile_at(self, when: int) -> str:
        return self.mobile_new if self.mobile_new and when >= self.mobile_change else self.mobile


class _Company:
    __slots__ = ("eid", "names", "uscc", "place", "street", "phone", "contact", "employees")

    def __init__(self, eid: str) -> None:
        self.eid = eid
        self.names: tuple[str, ...] = ()  # canonical name first, then variants
        self.uscc = ""
        self.place: _Place
        self.street = ""
        self.phone = ""
        self.contact: _Person
        self.employees: list[_Person] = []


# --------------------------------------------------------------------------- systems


@dataclass(frozen=True)
class _Spec:
    """How one system writes its export, and which columns faults may touch."""

    system: str
    file: str
    fmt: str  # csv | jsonl | parquet | sqlite
    columns: tuple[str, ...]
    key: str
    encoding: str = "utf-8"
    delimiter: str = ","
    newline: str = "\n"
    amount: str | None = None
    dates: tuple[str, ...] = ()  # columns written by ``date_fmt``
    date_fmt: Callable[[int, int, int], str] = lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}"
    ids: tuple[str, ...] = ()  # resident-ID columns
    usccs: tuple[str, ...] = ()
    # primary party: (name, id, mobile, address) columns, for duplicate variations
    primary: tuple[str, str | None, str | None, str | None] = ("", None, None, None)
    mobile_style: str = "plain"
    addr_forms: tuple[float, float, float] = (0.5, 0.25, 0.25)  # full, short, local
    nulls_in_json: bool = True
    old_ids: bool = False  # an old system: still holds 15-digit IDs
    reasons: tuple[Q, ...] = ()


_COMMON_REASONS = (Q.ID_CHECKSUM, Q.DATE_INVALID, Q.AMOUNT_INVALID, Q.DUPLICATE_RECORD,
                   Q.MISSING_RECORD_KEY)

_AUTO = _Spec(
    "auto_core", "auto_policies.csv", "csv",
    ("BDH", "CPH", "BF", "QBRQ", "ZBRQ", "TBR_XM", "TBR_ZJLX", "TBR_ZJHM", "TBR_SJHM", "TBR_DZ",
     "BBR_XM", "BBR_ZJHM", "BBR_SJHM", "FXPF", "CJQJ", "YWY", "XGSJ"),
    "BDH", amount="BF", dates=("QBRQ", "ZBRQ"), ids=("TBR_ZJHM", "BBR_ZJHM"),
    primary=("TBR_XM", "TBR_ZJHM", "TBR_SJHM", "TBR_DZ"), mobile_style="dash", old_ids=True,
    reasons=(*_COMMON_REASONS, Q.CSV_MALFORMED, Q.ENCODING_INVALID),
)
_ACCIDENT = _Spec(
    "accident_core", "accident_policies.jsonl", "jsonl",
    ("policyNo", "certNo", "productName", "premium", "effDate", "expDate", "holderType",
     "holderName", "holderIdNo", "holderUscc", "holderMobile", "holderEmail", "holderAddr",
     "insuredName", "insuredIdNo", "insuredMobile", "bnfType", "bnfName", "bnfIdNo", "bnfRelation",
     "saleChannel", "updateTime"),
    "certNo", amount="premium", dates=("effDate", "expDate"), date_fmt=lambda y, m, d: f"{y}/{m}/{d}",
    ids=("holderIdNo", "insuredIdNo", "bnfIdNo"), usccs=("holderUscc",),
    primary=("holderName", "holderIdNo", "holderMobile", "holderAddr"), mobile_style="plus86sp",
    addr_forms=(0.7, 0.0, 0.3), reasons=(*_COMMON_REASONS, Q.USCC_INVALID, Q.ENCODING_INVALID),
)
_HEALTH = _Spec(
    "health_core", "health_policies.csv", "csv",
    ("BDHM", "XZMC", "BF", "SXRQ", "ZZRQ", "TBRXM", "TBRZJHM", "TBRSJHM", "TBRGDDH", "TBRDZ",
     "BBRXM", "BBRZJHM", "BBRCSRQ", "BBRXB", "SYRXM", "SYRZJHM", "SYRGX", "WBJKPF", "SSJG",
     "ZHXGSJ"),
    "BDHM", encoding="gb18030", newline="\r\n", amount="BF", dates=("SXRQ", "ZZRQ", "BBRCSRQ"),
    date_fmt=lambda y, m, d: f"{y}年{m}月{d}日", ids=("TBRZJHM", "BBRZJHM", "SYRZJHM"),
    primary=("TBRXM", "TBRZJHM", "TBRSJHM", "TBRDZ"), addr_forms=(0.6, 0.2, 0.2), old_ids=True,
    reasons=(*_COMMON_REASONS, Q.CSV_MALFORMED, Q.ENCODING_INVALID),
)
_DEPOSIT = _Spec(
    "deposit_core", "deposit_accounts.parquet", "parquet",
    ("ACCT_NO", "ACCT_TYPE", "CUST_TYPE", "CUST_NM", "ID_TYPE", "ID_NO", "USCC_CD", "MOBILE",
     "TEL_NO", "ADDR", "CONT_NM", "CONT_MOBILE", "CONT_ID_NO", "BAL", "CCY", "OPEN_DT", "BRCH_NM",
     "AUM_LVL", "LAST_UPD_TS"),
    "ACCT_NO", dates=("OPEN_DT",), date_fmt=lambda y, m, d: f"{y:04d}{m:02d}{d:02d}",
    ids=("ID_NO", "CONT_ID_NO"), usccs=("USCC_CD",), primary=("CUST_NM", "ID_NO", "MOBILE", "ADDR"),
    addr_forms=(0.3, 0.1, 0.6), old_ids=True,
    reasons=(Q.ID_CHECKSUM, Q.USCC_INVALID, Q.DATE_INVALID, Q.DUPLICATE_RECORD, Q.MISSING_RECORD_KEY),
)
_CARD = _Spec(
    "card_core", "credit_cards.csv", "csv",
    ("CARD_NO", "CARD_PRD", "CRD_LMT", "CUST_NAME", "EMB_NAME", "ID_NO", "BIRTH_DT", "MOBILE",
     "EMAIL", "BILL_ADDR", "OPEN_DT", "CHURN_PROB", "LAST_MNT_TS"),
    "CARD_NO", delimiter=";", amount="CRD_LMT", dates=("BIRTH_DT", "OPEN_DT"),
    date_fmt=lambda y, m, d: f"{y:04d}{m:02d}{d:02d}", ids=("ID_NO",),
    primary=("CUST_NAME", "ID_NO", "MOBILE", "BILL_ADDR"), mobile_style="plus86",
    addr_forms=(0.4, 0.4, 0.2), reasons=(*_COMMON_REASONS, Q.CSV_MALFORMED, Q.ENCODING_INVALID),
)
_LOAN = _Spec(
    "loan_core", "loans.db", "sqlite",
    ("contract_no", "loan_type", "cust_type", "borrower_nm", "borrower_id_no", "borrower_uscc",
     "borrower_mobile", "borrower_addr", "contact_nm", "contact_mobile", "contact_id_no",
     "principal", "rate", "start_dt", "mature_dt", "status", "branch_nm", "pd_score", "upd_time"),
    "contract_no", amount="principal", dates=("start_dt", "mature_dt"),
    ids=("borrower_id_no", "contact_id_no"), usccs=("borrower_uscc",),
    primary=("borrower_nm", "borrower_id_no", "borrower_mobile", "borrower_addr"),
    addr_forms=(0.8, 0.0, 0.2), reasons=(*_COMMON_REASONS, Q.USCC_INVALID),
)
_SERVICE = _Spec(
    "service_desk", "service_tickets.jsonl", "jsonl",
    ("ticket_no", "create_time", "channel", "category", "caller_name", "caller_mobile",
     "caller_id_no", "remark", "status", "update_time"),
    "ticket_no", dates=("create_time",), date_fmt=lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d} 10:26",
    ids=("caller_id_no",), primary=("caller_name", "caller_id_no", "caller_mobile", None),
    nulls_in_json=False,
    reasons=(Q.ID_CHECKSUM, Q.DATE_INVALID, Q.DUPLICATE_RECORD, Q.MISSING_RECORD_KEY,
             Q.CSV_MALFORMED, Q.ENCODING_INVALID),
)
SPECS: tuple[_Spec, ...] = (_AUTO, _ACCIDENT, _HEALTH, _DEPOSIT, _CARD, _LOAN, _SERVICE)


def _hms(secs: int) -> tuple[int, int, int]:
    return secs // 3600, secs // 60 % 60, secs % 60


def _ymd(o: int) -> tuple[int, int, int]:
    d = date.fromordinal(o)
    return d.year, d.month, d.day


def _luhn(first15: str) -> str:
    total = 0
    for i, c in enumerate(reversed(first15)):
        n = int(c) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def _fmt_mobile(m: str, style: str) -> str:
    if style == "dash":
        return f"{m[:3]}-{m[3:7]}-{m[7:]}"
    if style == "space":
        return f"{m[:3]} {m[3:7]} {m[7:]}"
    if style == "plus86sp":
        return "+86 " + m
    if style == "plus86":
        return "+86" + m
    return m


_MOBILE_STYLES = ("plain", "dash", "space", "plus86sp", "plus86")


# --------------------------------------------------------------------------- sinks


class _Sink:
    """Writes one system's rows, injects invalid rows, and records the ground truth."""

    def __init__(self, spec: _Spec, gen: _Generator) -> None:
        self.spec, self.gen = spec, gen
        self.path = gen.out / spec.file
        self.rows = 0
        self.dups: list[tuple[Any, list[tuple[str, str, str]], str]] = []
        self.pending: tuple[dict[str, Any], list[tuple[str, str, str]]] | None = None
        turn = gen.below(len(spec.reasons))
        self.queue = list(spec.reasons[turn:] + spec.reasons[:turn])
        self.buffer: list[Any] = []
        self.db: sqlite3.Connection | None = None
        self.pq: Any = None
        self.fh: Any = None
        if spec.fmt in ("csv", "jsonl"):
            self.fh = self.path.open("wb")
            if spec.fmt == "csv":
                self.fh.write((spec.delimiter.join(spec.columns) + spec.newline).encode(spec.encoding))
        elif spec.fmt == "sqlite":
            self.path.unlink(missing_ok=True)
            self.db = sqlite3.connect(self.path)
            cols = ", ".join(f"{c} {'REAL' if c in ('principal', 'rate') else 'TEXT'}"
                             for c in spec.columns)
            self.db.execute(f"CREATE TABLE loan_contract ({cols})")

    # -- invalid rows
    def _corrupt(self, row: dict[str, Any]) -> str:
        """Make ``row`` invalid for the first queued reason that applies to it; '' if none.

        A reason that fits few rows (USCC_INVALID: corporate rows only) stays at the front
        of the queue until such a row comes, so every reason gets its share.
        """
        for i, reason in enumerate(self.queue):
            if self._apply(reason, row):
                self.queue.append(self.queue.pop(i))
                return reason.value
        return ""

    def _apply(self, reason: Q, row: dict[str, Any]) -> bool:
        spec, gen = self.spec, self.gen
        if reason == Q.ID_CHECKSUM:
            cols = [c for c in spec.ids if isinstance(row.get(c), str) and len(row[c]) == 18
                    and row[c].isascii()]
            if cols:
                c = gen.pick(cols)
                row[c] = row[c][:17] + gen.pick([x for x in "0123456789X" if x != row[c][17]])
            return bool(cols)
        if reason == Q.USCC_INVALID:
            cols = [c for c in spec.usccs if row.get(c)]
            if cols:
                c = cols[0]
                row[c] = row[c][:17] + gen.pick([x for x in "0123456789ABCDEFGH" if x != row[c][17]])
            return bool(cols)
        if reason == Q.DATE_INVALID:
            cols = [c for c in spec.dates if row.get(c)]
            if cols:
                m, d = gen.pick(((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 5)))
                row[gen.pick(cols)] = spec.date_fmt(gen.ri(2015, 2024), m, d)
            return bool(cols)
        if reason == Q.AMOUNT_INVALID:
            if spec.amount and row.get(spec.amount) is not None:
                row[spec.amount] = gen.pick(_BAD_AMOUNTS)
                return True
            return False
        if reason == Q.MISSING_RECORD_KEY:
            row[spec.key] = "" if spec.fmt == "csv" else None
        return True  # DUPLICATE_RECORD, CSV_MALFORMED, ENCODING_INVALID: done when written

    def emit(self, row: dict[str, Any], parties: list[tuple[str, str, str]]) -> None:
        """Write one record; ``parties`` is (role, entity_id, entity_kind) per observation."""
        if self.spec.fmt == "csv":  # hold one row back: the file's last line may be cut off
            held, self.pending = self.pending, (row, parties)
            if held is None:
                return
            row, parties = held
        self._emit(row, parties)

    def _emit(self, row: dict[str, Any], parties: list[tuple[str, str, str]],
              truncated: bool = False) -> None:
        gen = self.gen
        key = row[self.spec.key]
        reason = Q.CSV_MALFORMED.value if truncated else ""
        if not reason and gen.rand() < gen.rates.invalid:
            row = dict(row)  # the caller may still copy the valid row (a re-entered duplicate)
            reason = self._corrupt(row)
        data = self._serialise(row, reason, truncated)
        if data is None:  # the reason could not be applied to this row: write it valid
            reason = ""
            data = self._serialise(row, reason, False)
        if reason == Q.DUPLICATE_RECORD:
            self.dups.append((data, parties, key))
            self._write(data)
            self._truth(key, parties, "")
            return
        self._write(data)
        self._truth(key, parties, reason)

    def _truth(self, key: str, parties: list[tuple[str, str, str]], reason: str) -> None:
        self.rows += 1
        if reason:
            self.gen.invalid[reason] += 1
        self.gen.observations += len(parties)
        for role, eid, kind in parties:
            self.gen.truth.writerow((self.spec.system, key, role, eid, kind, reason))

    def _serialise(self, row: dict[str, Any], reason: str, truncated: bool) -> Any:
        """The row as the system writes it (bytes of a line, or values); None if ``reason``
        cannot be applied to it."""
        spec = self.spec
        if spec.fmt == "parquet" or spec.fmt == "sqlite":
            if reason in (Q.CSV_MALFORMED, Q.ENCODING_INVALID):
                return None
            return [row.get(c) for c in spec.columns]
        if spec.fmt == "jsonl":
            obj = {c: row.get(c) for c in spec.columns if spec.nulls_in_json or row.get(c) is not None}
            text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            if reason == Q.CSV_MALFORMED:  # the line was cut off
                text = text[: len(text) // 2]
            return self._encode(text + "\n", reason)
        delim = spec.delimiter
        values = ["" if row.get(c) is None else str(row[c]) for c in spec.columns]
        cells = ['"' + v.replace('"', '""') + '"' if (delim in v or '"' in v) else v for v in values]
        at = spec.columns.index(spec.primary[3] or spec.key)  # the address column
        if truncated:  # the export ends inside a quoted field: no closing quote, no line end
            return (delim.join([*cells[:at], ""]) + '"' + values[at][:5]).encode(spec.encoding)
        if reason == Q.CSV_MALFORMED:
            if self.gen.rand() < 0.5 and len(values[at]) > 6:  # a delimiter typed into the address
                cells[at] = values[at][:6] + delim + values[at][6:]
            else:  # the trailing columns are missing
                cells = cells[:-3]
        return self._encode(delim.join(cells) + spec.newline, reason)

    def _encode(self, text: str, reason: str) -> bytes | None:
        if reason != Q.ENCODING_INVALID:
            return text.encode(self.spec.encoding)
        # a line written by a system with another encoding: GBK in UTF-8, UTF-8 in GB18030
        wrong = "utf-8" if self.spec.encoding == "gb18030" else "gbk"
        raw = text.encode(wrong, errors="replace")
        try:
            raw.decode(self.spec.encoding)
        except UnicodeDecodeError:
            return raw
        return None  # the bytes happen to decode: not an encoding error after all

    def _write(self, data: Any) -> None:
        self.buffer.append(data)
        if len(self.buffer) >= 20_000:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        spec = self.spec
        if self.fh is not None:
            self.fh.write(b"".join(self.buffer))
        elif self.db is not None:
            marks = ", ".join("?" * len(spec.columns))
            self.db.executemany(f"INSERT INTO loan_contract VALUES ({marks})", self.buffer)
        else:
            self._parquet(self.buffer)
        self.buffer = []

    def _parquet(self, rows: list[Any]) -> None:
        cols = list(zip(*rows, strict=True)) or [() for _ in self.spec.columns]
        arrays = [pa.array(v, pa.string()) for v in cols]
        bal = self.spec.columns.index("BAL")
        arrays[bal] = arrays[bal].cast(pa.decimal128(18, 2))
        table = pa.Table.from_arrays(arrays, names=list(self.spec.columns))
        if self.pq is None:
            self.pq = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self.pq.write_table(table)

    def close(self) -> None:
        last = self.pending
        self.pending = None
        for data, parties, key in self.dups:  # a batch sent twice: exact copies at the end
            self._write(data)
            self._truth(key, parties, Q.DUPLICATE_RECORD.value)
        if last is not None:
            self._emit(last[0], last[1], truncated=self.gen.rates.truncated_tail)
        self._flush()
        if self.spec.fmt == "parquet" and self.pq is None:  # no rows: still a file with the schema
            self._parquet([])
        if self.fh is not None:
            self.fh.close()
        if self.db is not None:
            self.db.commit()
            self.db.close()
        if self.pq is not None:
            self.pq.close()


# --------------------------------------------------------------------------- generator

_Parties = list[tuple[str, str, str]]


def _ind(role: str, p: _Person) -> tuple[str, str, str]:
    return (role, p.eid, "individual")


def _corp(role: str, c: _Company) -> tuple[str, str, str]:
    return (role, c.eid, "corporate")


class _Generator:
    def __init__(self, seed: int, out: Path, rates: FaultRates) -> None:
        self.rng = random.Random(seed)
        self.rand = self.rng.random
        self.out, self.rates = out, rates
        self.pools = _pools()
        self.invalid: Counter[str] = Counter()
        self.truth: Any = None  # csv writer of ground_truth.csv
        self.observations = 0
        self.seq = Counter[str]()
        self.used: set[str] = set()  # IDs, mobiles, card numbers, company names: never twice
        self._tc: dict[str, str] = {}
        self._place = self.pools.places[0]  # the household being built
        from opencc import OpenCC

        self._opencc = OpenCC("s2t")

    # -- fast draws (random.Random's randrange/choice cost ~1 µs each; these ~0.1 µs)
    def below(self, n: int) -> int:
        return int(self.rand() * n)

    def ri(self, a: int, b: int) -> int:
        """An integer in [a, b]."""
        return a + int(self.rand() * (b - a + 1))

    def rr(self, a: int, b: int) -> int:
        """An integer in [a, b)."""
        return a + int(self.rand() * (b - a))

    def weighted(self, seq: Sequence[_T], cum: Sequence[float]) -> _T:
        """One of ``seq`` by cumulative weights (what ``choices(..., k=1)`` does, faster)."""
        return seq[bisect(cum, self.rand() * cum[-1])]

    def pick(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.rand() * len(seq))]

    def next(self, system: str) -> int:
        self.seq[system] += 1
        return self.seq[system]

    def unique(self, make: Callable[[], str]) -> str:
        while True:
            v = make()
            if v not in self.used:
                self.used.add(v)
                return v

    # -- population
    def _given(self, male: bool) -> str:
        rng, pools = self.rng, self.pools
        if rng.random() < 0.4:
            common, cum = ((pools.male_common, pools.male_cum) if male
                           else (pools.female_common, pools.female_cum))
            return self.weighted(common, cum)
        chars = pools.male_chars if male else pools.female_chars
        a = self.pick(chars)
        return a if rng.random() < 0.15 else a + self.pick(chars.replace(a, ""))

    def _mobile(self) -> str:
        return self.unique(lambda: self.pick(_MOBILE_PREFIXES) + f"{self.below(10**8):08d}")

    def _person(self, n: int, family: str, male: bool, age: int) -> _Person:
        rng, pools = self.rng, self.pools
        birth = _AS_OF - age * 365 - self.below(365)
        p = _Person(f"P{n:07d}", family, self._given(male), male, birth)
        y, m, d = _ymd(birth)

        def make_id() -> str:
            area = p.place.area if rng.random() < 0.8 else self.pick(pools.places).area
            seq = self.below(500) * 2 + (1 if male else 0)
            first17 = f"{area}{y:04d}{m:02d}{d:02d}{seq:03d}"
            return first17 + id_check_char(first17)

        p.place = self._place
        p.id18 = self.unique(make_id)
        if age >= 16:
            p.mobile = self._mobile()
            if rng.random() < self.rates.phone_change:
                p.mobile_new = self._mobile()
                p.mobile_change = self.rr(_D2019, _AS_OF - 30)
            if rng.random() < 0.55:
                given = "".join(pools.pinyin.get(c, "x") for c in p.given)
                user = self.pick((given + pools.pinyin[family], pools.pinyin[family] + given,
                                   f"{given[:1]}{pools.pinyin[family]}"))
                p.email = self.pick((
                    f"{user}{self.rr(100, 9999)}@{self.pick(('163.com', '126.com', 'sina.com'))}",
                    f"{self.rr(10**5, 10**10)}@qq.com", f"{user}@{self.pick(('foxmail.com', 'outlook.com'))}"))
            p.hnw = age >= 35 and rng.random() < 0.03
        return p

    def _surname(self) -> str:
        return self.weighted(self.pools.surnames, self.pools.surname_cum)

    def _street(self) -> str:
        rng = self.rng
        s = f"{self.pick(_STREETS)}{self.ri(1, 388)}号"
        r = rng.random()
        if r < 0.45:
            s += f"{self.pick(_COMPOUNDS)}{self.ri(1, 30)}栋{self.ri(1, 4)}单元{self.ri(1, 32)}{self.ri(1, 6):02d}室"
        elif r < 0.8:
            s += f"{self.ri(1, 28)}{self.ri(1, 12):02d}室"
        return s

    def people(self, n: int, progress: Progress | None) -> list[_Person]:
        rng, pools = self.rng, self.pools
        people: list[_Person] = []
        while len(people) < n:
            size = min(n - len(people), self.weighted((1, 2, 3, 4), (38, 68, 88, 100)))
            self._place = self.pick(pools.places)
            street = self._street()
            landline = ""
            if rng.random() < (0.5 if size > 1 else 0.2):
                landline = f"{self._place.phone_area}-{self.ri(2, 8)}{self.rr(10**6, 10**7)}"
            head_age = self.ri(24, 78)
            head_male = rng.random() < 0.7
            head = self._person(len(people), self._surname(), head_male, head_age)
            members = [head]
            if size >= 2 and rng.random() < 0.85:
                spouse = self._person(len(people) + 1, self._surname(), not head_male,
                                      max(22, head_age + self.ri(-5, 5)))
                head.spouse, spouse.spouse = spouse, head
                if rng.random() < 0.15:  # one mobile for the couple
                    spouse.mobile, spouse.mobile_new = head.mobile, head.mobile_new
                    spouse.mobile_change = head.mobile_change
                members.append(spouse)
            father = next((x for x in members if x.male), head)
            while len(members) < size:
                age = head_age - self.ri(22, min(36, head_age))
                child = self._person(len(people) + len(members), father.family,
                                     rng.random() < 0.5, age)
                child.parent = head
                head.children.append(child)
                if head.spouse:
                    head.spouse.children.append(child)
                if not child.mobile:  # children under 16 give a parent's mobile
                    child.mobile = head.mobile
                members.append(child)
            shared_mobile = len({x.mobile for x in members}) < len(members)
            if len(members) > 1 and not landline and not shared_mobile:  # a household shares one
                landline = f"{self._place.phone_area}-{self.ri(2, 8)}{self.rr(10**6, 10**7)}"
            for x in members:
                x.street, x.phone = street, landline
            people.extend(members)
            if progress and len(people) % 50_000 < size:
                progress("population", len(people), n)
        return people

    def companies(self, n: int, adults: list[_Person]) -> list[_Company]:
        rng, pools = self.rng, self.pools
        out = []
        for i in range(n):
            c = _Company(f"C{i:07d}")
            c.place = place = self.pick(pools.places)
            r = place.region
            rest = ""
            while not rest or rest in self.used:
                a = self.pick(_BRAND_CHARS)
                brand = a + self.pick(_BRAND_CHARS.replace(a, ""))
                form = self.weighted(("有限公司", "股份有限公司", "有限责任公司"), (85, 95, 100))
                rest = f"{brand}{self.pick(_TRADES)}{form}"
            self.used.add(rest)
            short = city_short(r.city)
            c.names = (f"{r.city}{rest}", f"{short}{rest}", f"({short}){rest}", f"（{short}）{rest}")
            org8 = f"{self.below(10**8):08d}"
            total = sum(int(x) * w for x, w in zip(org8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
            org9 = org8 + "0123456789X0"[11 - total % 11]
            c.uscc = make_uscc(f"91{place.area}{org9}")
            c.street = self._street()
            c.phone = f"{place.phone_area}-{self.ri(2, 8)}{self.rr(10**6, 10**7)}"
            c.employees = rng.sample(adults, min(len(adults), self.ri(3, 15)))
            c.contact = c.employees[0]
            out.append(c)
        return out

    # -- rendering with faults
    def name(self, p: _Person) -> str:
        if self.rng.random() >= self.rates.homophone:
            return p.name
        return self.typo(p.name, len(p.family))

    def typo(self, name: str, family_len: int = 1) -> str:
        rng, homo = self.rng, self.pools.homophones
        if rng.random() < 0.2 and ("surname:" + name[:family_len]) in homo:
            return self.pick(homo["surname:" + name[:family_len]]) + name[family_len:]
        spots = [i for i in range(family_len, len(name)) if name[i] in homo]
        if not spots:
            return name
        i = self.pick(spots)
        return name[:i] + self.pick(homo[name[i]]) + name[i + 1:]

    def idno(self, p: _Person, old: bool = False) -> str:
        rng = self.rng
        v = p.id18
        if old and p.birth < 730120 and rng.random() < self.rates.old_id:  # < 2000
            v = p.id15
        if rng.random() < self.rates.full_width:
            v = v.translate(_FULL_WIDTH)
        return v

    def mobile(self, m: str, style: str) -> str:
        rng = self.rng
        if not m:
            return ""
        if rng.random() < self.rates.format_variant:
            style = self.pick(_MOBILE_STYLES)
        v = _fmt_mobile(m, style)
        if rng.random() < self.rates.full_width:
            v = v.translate(_FULL_WIDTH)
        return v

    def address(self, place: _Place, street: str, forms: tuple[float, float, float]) -> str:
        r = self.rng.random()
        base = place.full if r < forms[0] else place.short if r < forms[0] + forms[1] else place.local
        return base + street

    def company_name(self, c: _Company) -> str:
        if self.rng.random() < self.rates.company_variant:
            return self.pick(c.names[1:])
        return c.names[0]

    def traditional(self, s: str) -> str:
        if not s:
            return s
        if s not in self._tc:
            self._tc[s] = self._opencc.convert(s)
        return self._tc[s]

    def dates(self, start_lo: int, start_hi: int) -> tuple[int, int, int]:
        """(start, last update, seconds of day) for a record."""
        start = self.rr(start_lo, max(start_lo + 1, start_hi))
        upd = min(_AS_OF, start + self.rr(0, 400))
        return start, upd, self.rr(8 * 3600, 21 * 3600)

    def vary(self, spec: _Spec, row: dict[str, Any]) -> None:
        """Small variations of a re-entered record's primary party; at least one takes."""
        name_c, id_c, mobile_c, addr_c = spec.primary
        before = dict(row)
        for _ in range(10):
            kind = self.below(5)
            col = (name_c, mobile_c, addr_c, id_c, name_c)[kind]
            if not col or not (value := row.get(col)):
                continue
            if kind == 0:
                row[col] = self.typo(value)
            elif kind == 1:
                digits = "".join(ch for ch in value.translate(_HALF_WIDTH) if ch.isdigit())
                row[col] = _fmt_mobile(digits[-11:], self.pick(_MOBILE_STYLES))
            elif kind == 2:
                row[col] = self.readdress(value)
            elif kind == 3 and spec.old_ids and len(value) == 18 and value[6:8] == "19":
                row[col] = value[:6] + value[8:17]  # the old ID the person also still uses
            elif kind == 3:
                row[col] = value.translate(_FULL_WIDTH)
            else:  # a space typed inside or after the name
                row[col] = " ".join(value) if len(value) <= 3 else value + " "
            if row != before:
                return

    def readdress(self, address: str) -> str:
        """The same address written in another of the three customary forms."""
        for place in self.pools.places:
            for form in (place.full, place.short, place.local):
                if address.startswith(form):
                    other = self.pick([f for f in (place.full, place.short, place.local)
                                       if f != form])
                    return other + address[len(form):]
        return address + "附近"

    # -- records, one builder per system
    def _ts(self, o: int, secs: int, style: str) -> str:
        y, m, d = _ymd(o)
        h, mi, s = _hms(secs)
        if style == "iso":
            return f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
        if style == "compact":
            return f"{y:04d}{m:02d}{d:02d}{h:02d}{mi:02d}{s:02d}"
        if style == "slash_min":
            return f"{y:04d}/{m:02d}/{d:02d} {h:02d}:{mi:02d}"
        if style == "dmy":
            return f"{d:02d}/{m:02d}/{y:04d} {h:02d}:{mi:02d}:{s:02d}"
        return f"{y:04d}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"

    def _datefmt(self, spec: _Spec, variant: Callable[[int, int, int], str]
                 ) -> Callable[[int], str]:
        f = variant if self.rng.random() < self.rates.format_variant else spec.date_fmt
        return lambda o: f(*_ymd(o))

    def _family(self, p: _Person) -> _Person | None:
        options = [x for x in (p.spouse, *p.children, p.parent) if x is not None]
        return self.pick(options) if options else None

    def auto(self, p: _Person) -> _Recs:
        rng, spec = self.rng, _AUTO
        start, upd, secs = self.dates(_D2019, _AS_OF - 7)
        fmt = self._datefmt(spec, lambda y, m, d: f"{y}/{m:02d}/{d:02d}")
        year, a4 = _ymd(start)[0], p.place.area[:4]
        insured = p.spouse if p.spouse and rng.random() < 0.15 else p
        band = self.weighted(("10万以下", "10-20万", "20-30万", "30-50万", "50万以上"),
                             (0, 5, 20, 50, 100) if p.hnw else (25, 60, 80, 93, 100))
        tail = (f"D{self.below(10**5):05d}" if rng.random() < 0.15 else
                "".join(self.pick("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5)))
        holder = (self.name(p), self.idno(p, old=True), self.mobile(p.mobile_at(upd), spec.mobile_style),
                  self.address(p.place, p.street, spec.addr_forms))
        ins = holder if insured is p else (self.name(insured), self.idno(insured, old=True),
                                           self.mobile(insured.mobile_at(upd), spec.mobile_style))
        row = {
            "BDH": f"PDAA{year}{a4}{self.next(spec.system):08d}", "CPH": p.place.plate + tail,
            "BF": f"{rng.uniform(950, 3000) * (1 + 'a10-20-30-50万'.find(band[:2]) / 6):.2f}",
            "QBRQ": fmt(start), "ZBRQ": fmt(start + 364), "TBR_XM": holder[0], "TBR_ZJLX": "01",
            "TBR_ZJHM": holder[1], "TBR_SJHM": holder[2], "TBR_DZ": holder[3], "BBR_XM": ins[0],
            "BBR_ZJHM": ins[1], "BBR_SJHM": ins[2], "FXPF": str(self.ri(1, 100)), "CJQJ": band,
            "YWY": f"YW{self.ri(1000, 9999)}", "XGSJ": self._ts(upd, secs, "sql"),
        }
        return [(row, [_ind("policy_holder", p), _ind("insured", insured)],
                 lambda: f"PDAA{year}{a4}{self.next(spec.system):08d}")]

    def _accident_row(self, policy: str, cert: int, start: int, upd: int, secs: int,
                      product: str, premium: float, insured: _Person,
                      bnf: _Person | None, relation: str) -> dict[str, Any]:
        spec = _ACCIDENT
        fmt = self._datefmt(spec, lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}")
        return {
            "policyNo": policy, "certNo": f"{policy}{cert:04d}", "productName": product,
            "premium": round(premium, 2), "effDate": fmt(start), "expDate": fmt(start + 364),
            "insuredName": self.name(insured), "insuredIdNo": self.idno(insured),
            "insuredMobile": self.mobile(insured.mobile_at(upd), spec.mobile_style) or None,
            "bnfType": "指定" if bnf else "法定",
            "bnfName": self.name(bnf) if bnf else None, "bnfIdNo": self.idno(bnf) if bnf else None,
            "bnfRelation": relation, "saleChannel": self.pick(("个代", "银保", "网销", "电销")),
            "updateTime": self._ts(upd, secs, "iso"),
        }

    def accident(self, p: _Person, child: _Person | None = None) -> _Recs:
        rng, spec = self.rng, _ACCIDENT
        start, upd, secs = self.dates(_D2019, _AS_OF - 7)
        insured = child or (p if rng.random() < 0.7 else self._family(p) or p)
        bnf, relation = None, "法定"
        if rng.random() < 0.6:
            bnf = p if insured is not p else self._family(p)
            if bnf is not None:
                relation = ("配偶" if bnf is insured.spouse else "父母" if bnf is insured.parent
                            else "子女")
        year = _ymd(start)[0]
        product = "学生平安险" if insured.age() < 18 else self.pick(
            ("个人意外伤害保险", "交通工具意外险", "综合意外保障计划"))
        row = self._accident_row(f"8806{year}{self.next(spec.system):010d}", 1, start, upd, secs,
                                 product, rng.uniform(50, 800), insured, bnf, relation)
        row |= {"holderType": "1", "holderName": self.name(p), "holderIdNo": self.idno(p),
                "holderUscc": None, "holderMobile": self.mobile(p.mobile_at(upd), spec.mobile_style),
                "holderEmail": p.email or None,
                "holderAddr": self.address(p.place, p.street, spec.addr_forms)}
        parties = [_ind("policy_holder", p), _ind("insured", insured)]
        if bnf is not None:
            parties.append(_ind("beneficiary", bnf))
        return [(row, parties, lambda: f"8806{year}{self.next(spec.system):010d}0001")]

    def group_accident(self, c: _Company) -> _Recs:
        rng, spec = self.rng, _ACCIDENT
        start, upd, secs = self.dates(_D2019, _AS_OF - 7)
        policy = f"8806{_ymd(start)[0]}{self.next(spec.system):010d}"
        holder = {"holderType": "2", "holderName": self.company_name(c), "holderIdNo": None,
                  "holderUscc": c.uscc, "holderMobile": None, "holderEmail": None,
                  "holderAddr": self.address(c.place, c.street, spec.addr_forms)}
        recs: _Recs = []
        for i, emp in enumerate(c.employees, start=1):
            bnf = self._family(emp) if rng.random() < 0.5 else None
            relation = "法定" if bnf is None else "配偶" if bnf is emp.spouse else (
                "父母" if bnf is emp.parent else "子女")
            row = self._accident_row(policy, i, start, upd, secs, "团体意外伤害保险",
                                     rng.uniform(60, 300), emp, bnf, relation) | holder
            parties = [_corp("policy_holder", c), _ind("insured", emp)]
            if bnf is not None:
                parties.append(_ind("beneficiary", bnf))
            recs.append((row, parties, None))
        return recs

    def health(self, p: _Person, child: _Person | None = None) -> _Recs:
        rng, spec = self.rng, _HEALTH
        start, upd, secs = self.dates(_D2019, _AS_OF - 7)
        fmt = self._datefmt(spec, lambda y, m, d: f"{y:04d}.{m:02d}.{d:02d}")
        insured = child or (p if rng.random() < 0.55 else self._family(p) or p)
        bnf = None
        if rng.random() < 0.5:
            bnf = p if insured is not p else self._family(p)
        relation = "法定" if bnf is None else "配偶" if bnf is insured.spouse else (
            "父母" if bnf is insured.parent else "子女")
        year = _ymd(start)[0]
        overseas = rng.random() < self.rates.traditional
        branch = (self.pick(("香港分公司", "台湾分公司")) if overseas
                  else province_short(p.place.region.province) + "分公司")
        product = "少儿医疗保险" if insured.age() < 18 else self.pick(
            ("百万医疗险", "重大疾病保险", "住院医疗保险", "防癌医疗险"))
        row = {
            "BDHM": f"H{year}{p.place.area[:2]}{self.next(spec.system):010d}", "XZMC": product,
            "BF": f"{rng.uniform(200, 12000):.2f}", "SXRQ": fmt(start), "ZZRQ": fmt(start + 364),
            "TBRXM": self.name(p), "TBRZJHM": self.idno(p, old=True),
            "TBRSJHM": self.mobile(p.mobile_at(upd), spec.mobile_style), "TBRGDDH": p.phone,
            "TBRDZ": self.address(p.place, p.street, spec.addr_forms),
            "BBRXM": self.name(insured), "BBRZJHM": self.idno(insured, old=True),
            "BBRCSRQ": fmt(insured.birth), "BBRXB": "男" if insured.male else "女",
            "SYRXM": self.name(bnf) if bnf else "", "SYRZJHM": self.idno(bnf) if bnf else "",
            "SYRGX": relation, "WBJKPF": str(self.ri(300, 900)) if rng.random() < 0.8 else "",
            "SSJG": branch, "ZHXGSJ": self._ts(upd, secs, "slash_min"),
        }
        if overseas:  # written in a traditional-character branch
            for col in ("TBRXM", "TBRDZ", "BBRXM", "SYRXM", "XZMC"):
                row[col] = self.traditional(row[col])
        parties = [_ind("policy_holder", p), _ind("insured", insured)]
        if bnf is not None:
            parties.append(_ind("beneficiary", bnf))
        a2 = p.place.area[:2]
        return [(row, parties, lambda: f"H{year}{a2}{self.next(spec.system):010d}")]

    def _branch(self, place: _Place) -> str:
        r = place.region
        return f"{city_short(r.city)}{r.district[:-1] if len(r.district) > 2 else r.district}支行"

    def deposit(self, p: _Person | None = None, c: _Company | None = None) -> _Recs:
        rng, spec = self.rng, _DEPOSIT
        entity_place = p.place if p else c.place  # type: ignore[union-attr]
        lo = max(date(2005, 1, 1).toordinal(), p.birth + 16 * 365) if p else date(2010, 1, 1).toordinal()
        opened, _, secs = self.dates(lo, _AS_OF - 1)
        upd = max(opened, _AS_OF - self.rr(0, 240))
        if p is None:
            bal = rng.lognormvariate(13, 1.5)
        else:
            bal = rng.lognormvariate(15.2, 0.8) if p.hnw else rng.lognormvariate(10, 1.6)
        level = ("大众客户" if bal < 5e4 else "金卡客户" if bal < 5e5 else "白金客户" if bal < 1e6
                 else "钻石客户" if bal < 6e6 else "私人银行客户")
        a4 = entity_place.area[:4]

        def key() -> str:
            return f"{a4}{self.ri(1, 99):02d}{self.next(spec.system):011d}"

        row: dict[str, Any] = {
            "ACCT_NO": key(), "BAL": f"{bal:.2f}",
            "CCY": self.weighted(("CNY", "USD", "HKD"), (92, 97, 100)),
            "OPEN_DT": spec.date_fmt(*_ymd(opened)), "BRCH_NM": self._branch(entity_place),
            "AUM_LVL": level, "LAST_UPD_TS": self._ts(upd, secs, "compact"),
            "CONT_NM": None, "CONT_MOBILE": None, "CONT_ID_NO": None,
        }
        if p is not None:
            row |= {"ACCT_TYPE": self.pick(("个人活期储蓄", "个人定期储蓄", "个人大额存单")),
                    "CUST_TYPE": "个人", "CUST_NM": self.name(p), "ID_TYPE": "居民身份证",
                    "ID_NO": self.idno(p, old=True), "USCC_CD": None,
                    "MOBILE": self.mobile(p.mobile_at(upd), spec.mobile_style) or None,
                    "TEL_NO": p.phone or None,
                    "ADDR": self.address(p.place, p.street, spec.addr_forms)}
            parties = [_ind("account_holder", p)]
        else:
            assert c is not None  # noqa: S101
            k = c.contact
            row |= {"ACCT_TYPE": self.pick(("单位基本存款账户", "单位一般存款账户")),
                    "CUST_TYPE": "对公", "CUST_NM": self.company_name(c), "ID_TYPE": "统一社会信用代码",
                    "ID_NO": None, "USCC_CD": c.uscc, "MOBILE": None, "TEL_NO": c.phone,
                    "ADDR": self.address(c.place, c.street, spec.addr_forms),
                    "CONT_NM": self.name(k), "CONT_MOBILE": self.mobile(k.mobile_at(upd), "plain"),
                    "CONT_ID_NO": self.idno(k) if rng.random() < 0.6 else None}
            parties = [_corp("account_holder", c), _ind("contact", k)]
        return [(row, parties, key)]

    def card_no(self) -> str:
        return self.unique(lambda: (lambda f: f + _luhn(f))(
            self.pick(_CARD_BINS) + f"{self.below(10**9):09d}"))

    def card(self, p: _Person) -> _Recs:
        rng, spec, py = self.rng, _CARD, self.pools.pinyin
        opened, upd, secs = self.dates(max(date(2012, 1, 1).toordinal(), p.birth + 18 * 365), _AS_OF - 1)
        limit = self.rr(200, 500) * 1000 if p.hnw else self.rr(5, 100) * 1000
        emb = f"{py[p.family]} {''.join(py.get(ch, 'x') for ch in p.given)}".upper()
        row = {
            "CARD_NO": self.card_no(), "CARD_PRD": self.pick(("标准金卡", "白金卡", "青春卡", "车主卡")),
            "CRD_LMT": str(limit), "CUST_NAME": self.name(p) if rng.random() > 0.08 else "",
            "EMB_NAME": emb, "ID_NO": self.idno(p), "BIRTH_DT": spec.date_fmt(*_ymd(p.birth)),
            "MOBILE": self.mobile(p.mobile_at(upd), spec.mobile_style), "EMAIL": p.email,
            "BILL_ADDR": self.address(p.place, p.street, spec.addr_forms),
            "OPEN_DT": spec.date_fmt(*_ymd(opened)), "CHURN_PROB": f"{rng.random() ** 2:.3f}",
            "LAST_MNT_TS": self._ts(upd, secs, "dmy"),
        }
        return [(row, [_ind("account_holder", p)], self.card_no)]

    def loan(self, p: _Person | None = None, c: _Company | None = None) -> _Recs:
        rng, spec = self.rng, _LOAN
        place = p.place if p else c.place  # type: ignore[union-attr]
        start, upd, secs = self.dates(date(2015, 1, 1).toordinal(), _AS_OF - 1)
        year, a4 = _ymd(start)[0], place.area[:4]
        if p is not None:
            loan_type = self.weighted(("个人住房贷款", "个人消费贷款", "个人经营贷款"), (40, 85, 100))
            principal = rng.uniform(3e5, 3e6) if loan_type == "个人住房贷款" else rng.uniform(1e4, 3e5)
            years = 20 if loan_type == "个人住房贷款" else self.ri(1, 5)
        else:
            loan_type = self.pick(("小微企业经营贷款", "流动资金贷款"))
            principal, years = rng.uniform(1e5, 5e6), self.ri(1, 3)
        row: dict[str, Any] = {
            "contract_no": f"JK{year}{a4}{self.next(spec.system):08d}", "loan_type": loan_type,
            "principal": round(principal, 2), "rate": round(rng.uniform(3.1, 6.5), 2),
            "start_dt": spec.date_fmt(*_ymd(start)), "mature_dt": spec.date_fmt(*_ymd(start + years * 365)),
            "status": self.weighted(("正常", "结清", "关注", "逾期"), (75, 90, 96, 100)),
            "branch_nm": self._branch(place), "pd_score": f"{rng.random() * 0.2:.4f}",
            "upd_time": self._ts(upd, secs, "sql"),
        }
        if p is not None:
            row |= {"cust_type": "个人", "borrower_nm": self.name(p), "borrower_id_no": self.idno(p),
                    "borrower_uscc": None, "borrower_mobile": self.mobile(p.mobile_at(upd), "plain"),
                    "borrower_addr": self.address(p.place, p.street, spec.addr_forms),
                    "contact_nm": None, "contact_mobile": None, "contact_id_no": None}
            parties = [_ind("account_holder", p)]
        else:
            assert c is not None  # noqa: S101
            k = c.contact
            row |= {"cust_type": "对公", "borrower_nm": self.company_name(c), "borrower_id_no": None,
                    "borrower_uscc": c.uscc, "borrower_mobile": None,
                    "borrower_addr": self.address(c.place, c.street, spec.addr_forms),
                    "contact_nm": self.name(k), "contact_mobile": self.mobile(k.mobile_at(upd), "plain"),
                    "contact_id_no": self.idno(k)}
            parties = [_corp("account_holder", c), _ind("contact", k)]
        return [(row, parties, lambda: f"JK{year}{a4}{self.next(spec.system):08d}")]

    def service(self, p: _Person) -> _Recs:
        rng, spec = self.rng, _SERVICE
        created, _, secs = self.dates(date(2021, 1, 1).toordinal(), _AS_OF)
        closed = min(_AS_OF, created + self.rr(0, 6))
        category = self.weighted(("咨询", "投诉", "理赔", "挂失", "查询", "信息变更", "建议"),
                                 (35, 47, 62, 72, 87, 95, 100))
        mobile = p.mobile_at(created)
        if p.mobile_new and rng.random() < 0.3:
            category, mobile = "信息变更", p.mobile_new
        said = self.mobile(mobile, "dash" if rng.random() < 0.2 else "plain")
        m, d = _ymd(created)[1:]
        remark = {
            "咨询": f"客户咨询{self.pick(('车险', '医疗险', '定期存款', '信用卡分期'))}相关事宜，已解答。",
            "投诉": "客户投诉处理进度慢，要求尽快回电。" + (f"回电号码{mobile}。" if rng.random() < 0.5 else ""),
            "理赔": f"客户报案：{m}月{d}日发生{self.pick(('交通事故', '意外摔伤', '住院治疗'))}，已指导提交理赔材料。",
            "挂失": f"客户来电挂失信用卡（尾号{self.below(10**4):04d}），已办理临时挂失。",
            "查询": "客户查询账户余额及近期交易明细，已核实身份后告知。",
            "信息变更": (f"客户申请变更联系电话，原号码{p.mobile}，新号码{p.mobile_new}，已提交后台。"
                         if p.mobile_new else f"客户申请变更通讯地址为{p.place.local}{p.street}。"),
            "建议": "客户建议APP增加电子保单下载功能。",
        }[category]
        if category != "投诉" and rng.random() < 0.1:
            remark += f"客户留言：请拨打{mobile}联系。"
        r = rng.random()
        caller = (self.name(p) if r < 0.75 else p.family + ("先生" if p.male else "女士") if r < 0.95
                  else "")
        created_at = self._ts(created, secs, "sql")[:16]

        def key() -> str:
            return f"GD{created_at[:10].replace('-', '')}{self.next(spec.system):07d}"

        row = {
            "ticket_no": key(), "create_time": created_at,
            "channel": self.pick(("热线", "热线", "APP", "微信", "网点")), "category": category,
            "caller_name": caller or None, "caller_mobile": said,
            "caller_id_no": self.idno(p) if rng.random() < 0.15 else None, "remark": remark,
            "status": "已关闭" if closed < _AS_OF - 7 else self.pick(("已受理", "处理中", "已关闭")),
            "update_time": self._ts(closed, min(secs + 1800, 86399), "sql"),
        }
        return [(row, [_ind("contact", p)], key)]


_Recs = list[tuple[dict[str, Any], _Parties, Callable[[], str] | None]]

# adult record mix per age band: auto, accident, health, deposit, card, loan, service
_MIX: tuple[tuple[int, tuple[int, ...]], ...] = (
    (21, (3, 10, 10, 30, 15, 0, 14)),
    (62, (15, 10, 12, 26, 14, 8, 15)),
    (70, (12, 10, 14, 32, 6, 0, 16)),
    (200, (0, 6, 14, 40, 0, 0, 18)),
)
_ADULT_JOBS = ("auto", "accident", "health", "deposit", "card", "loan", "service")


def _jobs(gen: _Generator, people: list[_Person], companies: list[_Company],
          per_customer: float) -> list[tuple[str, Any]]:
    rng = gen.rng
    jobs: list[tuple[str, Any]] = []
    for c in companies:
        jobs.append(("deposit_corp", c))
        if rng.random() < 0.25:
            jobs.append(("deposit_corp", c))
        if rng.random() < 0.45:
            jobs.append(("loan_corp", c))
        if rng.random() < 0.3:
            jobs.append(("group_accident", c))
    fixed = sum(len(c.employees) if j == "group_accident" else 1 for j, c in jobs)
    minors = [p for p in people if p.age() < 18]
    adults = len(people) - len(minors)
    target = per_customer * (len(people) + len(companies)) / (1 + gen.rates.duplicate)
    mean = max(1.0, (target - fixed - len(minors)) / max(1, adults))
    cum = {limit: _cum(w) for limit, w in _MIX}
    for p in people:
        age = p.age()
        if age < 18:
            jobs.append(("health_child" if rng.random() < 0.6 else "accident_child", p))
            continue
        k = 1
        while rng.random() > 1 / mean:
            k += 1
        weights = next(cum[limit] for limit, _ in _MIX if age <= limit)
        jobs.extend((job, p) for job in rng.choices(_ADULT_JOBS, cum_weights=weights, k=k))
    rng.shuffle(jobs)
    return jobs


def generate(customers: int, seed: int, out: Path, progress: Progress | None = None, *,
             rates: FaultRates | None = None, records_per_customer: float = 2.5) -> GenerateResult:
    """Write the demo financial group's source exports and their ground truth into ``out``.

    ``customers`` counts true customers (persons and ~5% companies); each has on
    average ``records_per_customer`` source records.  The same ``seed`` writes
    byte-identical files.  ``progress(stage, done, total)`` is called now and then.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    rates = rates or FaultRates()
    private_dir(out)  # the exports are plaintext customer data: owner-only
    gen = _Generator(seed, out, rates)
    n_companies = round(customers * 0.05)
    people = gen.people(customers - n_companies, progress)
    working = [p for p in people if 20 <= p.age() <= 60] or people
    companies = gen.companies(n_companies, working)
    jobs = _jobs(gen, people, companies, records_per_customer)
    sinks = {spec.system: _Sink(spec, gen) for spec in SPECS}
    builders: dict[str, tuple[_Spec, Callable[[Any], _Recs]]] = {
        "auto": (_AUTO, gen.auto),
        "accident": (_ACCIDENT, gen.accident),
        "accident_child": (_ACCIDENT, lambda ch: gen.accident(ch.parent, ch)),
        "group_accident": (_ACCIDENT, gen.group_accident),
        "health": (_HEALTH, gen.health),
        "health_child": (_HEALTH, lambda ch: gen.health(ch.parent, ch)),
        "deposit": (_DEPOSIT, lambda p: gen.deposit(p=p)),
        "deposit_corp": (_DEPOSIT, lambda c: gen.deposit(c=c)),
        "card": (_CARD, gen.card),
        "loan": (_LOAN, lambda p: gen.loan(p=p)),
        "loan_corp": (_LOAN, lambda c: gen.loan(c=c)),
        "service": (_SERVICE, gen.service),
    }
    truth_path = out / "ground_truth.csv"
    with truth_path.open("w", encoding="utf-8", newline="") as fh:
        gen.truth = csv.writer(fh, lineterminator="\n")
        gen.truth.writerow(("system", "record_key", "role", "entity_id", "entity_kind",
                            "invalid_reason"))
        for i, (job, entity) in enumerate(jobs):
            spec, build = builders[job]
            sink = sinks[spec.system]
            for row, parties, rekey in build(entity):
                sink.emit(row, parties)
                if rekey is not None and gen.rng.random() < rates.duplicate:
                    again = dict(row)
                    gen.vary(spec, again)
                    again[spec.key] = rekey()
                    if spec is _ACCIDENT:  # a new policy with one insured: 保单号 + 0001
                        again["policyNo"] = again["certNo"][:-4]
                    sink.emit(again, parties)
            if progress and i % 20_000 == 0:
                progress("records", i, len(jobs))
        for sink in sinks.values():
            sink.close()
    if progress:
        progress("records", len(jobs), len(jobs))
    records = {s: sinks[s].rows for s in sinks}
    observations = gen.observations
    invalid = {r.value: gen.invalid[r.value] for r in Q if gen.invalid[r.value]}
    manifest = out / "generation.json"
    manifest.write_text(json.dumps({
        "customers": customers, "seed": seed, "as_of": AS_OF.isoformat(),
        "records_per_customer": records_per_customer, "rates": asdict(rates),
        "persons": len(people), "companies": len(companies), "records": records,
        "observations": observations, "invalid": invalid,
        "files": {s.system: s.file for s in SPECS},
    }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for written in (truth_path, manifest, *(out / s.file for s in SPECS)):
        private_file(written)
    return GenerateResult(
        out=out, files=MappingProxyType({s.system: out / s.file for s in SPECS}),
        ground_truth=truth_path, manifest=manifest, records=MappingProxyType(records),
        observations=observations, persons=len(people), companies=len(companies),
        invalid=MappingProxyType(invalid),
    )


def stored_truth(ground_truth: Path, store: BatchStore, mappings: list[SourceMapping]) -> list[dict[str, str]]:
    """Ground truth keyed as the store keys observations: ``source:record_key:role``.

    Systems that key records by a card or account number hold the key as its
    token (no plaintext after landing), so the truth is translated with the
    store's own token key.  Tests and benchmarks only.
    """
    from custodata.domains.business import stored_record_key

    by_system = {m.system: m for m in mappings}
    out = []
    with ground_truth.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            mapping = by_system.get(row["system"])
            key = stored_record_key(mapping, row["record_key"], store.protector) if mapping else row["record_key"]
            out.append({**row, "obs_id": f"{row['system']}:{key}:{row['role']}"})
    return out
