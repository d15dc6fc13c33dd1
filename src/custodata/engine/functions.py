"""custodata's normalisation functions, registered as vectorised DuckDB functions.

The rules live once, in :mod:`custodata.normalise`, as plain Python; here they
are exposed to the pipeline SQL (``cd_*`` functions) through Arrow batches so
the SQL stays declarative and the Python rules stay unit-testable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import duckdb
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import ARROW, SPECIAL

from custodata import normalise as nz

_AMOUNT_STRIP = re.compile(r"[,\s¥￥元RMBrmbCNY]")


def _vec(fn: Callable[[str], Any], out: pa.DataType) -> Callable[[pa.Array], pa.Array]:
    def run(values: pa.Array) -> pa.Array:
        return pa.array([None if v is None else fn(v) for v in values.to_pylist()], out)

    return run


def _vec2(fn: Callable[[str, str], Any], out: pa.DataType) -> Callable[[pa.Array, pa.Array], pa.Array]:
    def run(values: pa.Array, arg: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else fn(v, a) for v, a in zip(values.to_pylist(), arg.to_pylist(), strict=True)],
            out,
        )

    return run


@lru_cache(maxsize=64)
def _formats(spec: str) -> tuple[str, ...]:
    return tuple(f for f in spec.split("|") if f)


def _date(value: str, spec: str) -> Any:
    return nz.parse_date(value, _formats(spec or ""))[0]


def _date_status(value: str, spec: str) -> str:
    return str(nz.parse_date(value, _formats(spec or ""))[1].value)


def parse_amount(value: str) -> float | None:
    """Amounts as systems print them: '1,234.50', '¥1234.5', '１２３４元'."""
    text = _AMOUNT_STRIP.sub("", nz.to_halfwidth(value))
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return float("nan")


def amount_invalid(value: str) -> bool:
    parsed = parse_amount(value)
    return parsed is not None and parsed != parsed  # NaN marks an unparseable amount


_COMPANY_HINTS = ("公司", "集团", "银行", "有限", "合伙", "厂", "商行", "合作社", "事务所", "中心", "研究院")


def looks_like_company(name: str) -> bool:
    return len(name) > 4 and any(h in name for h in _COMPANY_HINTS)


def _address(value: str) -> dict[str, str | None] | None:
    addr = nz.split_address(value)
    if addr is None:
        return None
    return {"province": addr.province, "city": addr.city, "district": addr.district,
            "detail": addr.detail, "full": addr.full}


_ADDRESS_ARROW = pa.struct([(k, pa.string()) for k in ("province", "city", "district", "detail", "full")])


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Make the ``cd_*`` functions available on a connection (idempotent)."""
    V, D, B, F = sqltypes.VARCHAR, sqltypes.DATE, sqltypes.BOOLEAN, sqltypes.DOUBLE
    s, d = pa.string(), pa.date32()
    one: list[tuple[str, Callable[[str], Any], Any, pa.DataType]] = [
        ("cd_clean", nz.clean_text, V, s),
        ("cd_id", nz.normalise_id, V, s),
        ("cd_id_status", lambda v: str(nz.check_id(v).value), V, s),
        ("cd_id_birth", nz.id_birth_date, D, d),
        ("cd_id_gender", nz.id_gender, V, s),
        ("cd_uscc", nz.normalise_uscc, V, s),
        ("cd_uscc_status", lambda v: str(nz.check_uscc(v).value), V, s),
        ("cd_mobile", nz.normalise_mobile, V, s),
        ("cd_landline", nz.normalise_landline, V, s),
        ("cd_email", nz.normalise_email, V, s),
        ("cd_gender", nz.normalise_gender, V, s),
        ("cd_name", nz.normalise_name, V, s),
        ("cd_pinyin", nz.name_pinyin, V, s),
        ("cd_family", nz.family_name, V, s),
        ("cd_company", nz.normalise_company_name, V, s),
        ("cd_company_key", nz.company_name_key, V, s),
        ("cd_amount", parse_amount, F, pa.float64()),
        ("cd_amount_invalid", amount_invalid, B, pa.bool_()),
        ("cd_is_company", looks_like_company, B, pa.bool_()),
        ("cd_placeholder", nz.is_placeholder, B, pa.bool_()),
    ]
    existing = {r[0] for r in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'cd_%'"
    ).fetchall()}
    for name, fn, ret, arrow_type in one:
        if name not in existing:
            con.create_function(name, _vec(fn, arrow_type), [V], ret, type=ARROW,
                                null_handling=SPECIAL, side_effects=False)
    if "cd_date" not in existing:
        con.create_function("cd_date", _vec2(_date, d), [V, V], D, type=ARROW, null_handling=SPECIAL)
        con.create_function("cd_date_status", _vec2(_date_status, s), [V, V], V, type=ARROW, null_handling=SPECIAL)
    if "cd_address" not in existing:
        addr_type = duckdb.struct_type({k: V for k in ("province", "city", "district", "detail", "full")})
        con.create_function("cd_address", _vec(_address, _ADDRESS_ARROW), [V], addr_type,
                            type=ARROW, null_handling=SPECIAL)
