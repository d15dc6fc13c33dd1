"""custodata's normalisation functions, registered as vectorised functions on the batch engine.

The rules live once, in :mod:`custodata.normalise`, as plain Python; here they
are exposed to the pipeline SQL (``cd_*`` functions) through Arrow batches so
the SQL stays declarative and the Python rules stay unit-testable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pyarrow as pa

from custodata import normalise as nz
from custodata.engine.port import ArrowFunction, BatchEngine

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


def normalisation_functions() -> list[ArrowFunction]:
    """The ``cd_*`` normalisation functions as engine-neutral Arrow functions."""
    s, d = pa.string(), pa.date32()
    one: list[tuple[str, Callable[[str], Any], pa.DataType]] = [
        ("cd_clean", nz.clean_text, s),
        ("cd_id", nz.normalise_id, s),
        ("cd_id_status", lambda v: str(nz.check_id(v).value), s),
        ("cd_id_birth", nz.id_birth_date, d),
        ("cd_id_gender", nz.id_gender, s),
        ("cd_uscc", nz.normalise_uscc, s),
        ("cd_uscc_status", lambda v: str(nz.check_uscc(v).value), s),
        ("cd_mobile", nz.normalise_mobile, s),
        ("cd_landline", nz.normalise_landline, s),
        ("cd_email", nz.normalise_email, s),
        ("cd_gender", nz.normalise_gender, s),
        ("cd_name", nz.normalise_name, s),
        ("cd_pinyin", nz.name_pinyin, s),
        ("cd_family", nz.family_name, s),
        ("cd_company", nz.normalise_company_name, s),
        ("cd_company_key", nz.company_name_key, s),
        ("cd_amount", parse_amount, pa.float64()),
        ("cd_amount_invalid", amount_invalid, pa.bool_()),
        ("cd_is_company", looks_like_company, pa.bool_()),
        ("cd_placeholder", nz.is_placeholder, pa.bool_()),
    ]
    functions = [ArrowFunction(name, _vec(fn, out), (s,), out) for name, fn, out in one]
    functions += [
        ArrowFunction("cd_date", _vec2(_date, d), (s, s), d),
        ArrowFunction("cd_date_status", _vec2(_date_status, s), (s, s), s),
        ArrowFunction("cd_address", _vec(_address, _ADDRESS_ARROW), (s,), _ADDRESS_ARROW),
    ]
    return functions


def register_functions(engine: BatchEngine) -> None:
    """Make the ``cd_*`` functions available on an engine (idempotent)."""
    engine.register(normalisation_functions())
