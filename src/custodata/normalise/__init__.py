"""Chinese-aware normalisation of single values, before entity resolution and validation.

Every function takes one raw value and is cheap enough to run per value on
millions of rows (through DuckDB Python UDFs); the modules hold one concept each.

Digits in any script are digits: every identifier normaliser reads Unicode
decimal digits (Arabic-Indic, Devanagari, mathematical, full width) as ASCII
before validating (``text.ascii_digits``), and everything it returns is ASCII.
"""

from __future__ import annotations

from custodata.normalise.address import Address, split_address
from custodata.normalise.corporate import company_name_key, normalise_company_name
from custodata.normalise.dates import DateStatus, parse_date
from custodata.normalise.email import email_address, normalise_email
from custodata.normalise.gender import normalise_gender
from custodata.normalise.idnumber import (
    IdStatus,
    check_id,
    id_birth_date,
    id_check_char,
    id_gender,
    normalise_id,
)
from custodata.normalise.names import family_name, name_pinyin, normalise_name
from custodata.normalise.phone import check_mobile, normalise_landline, normalise_mobile
from custodata.normalise.regions import (
    Gazetteer,
    Region,
    city_short,
    city_to_province,
    district_to_city,
    gazetteer,
    load_regions,
    province_short,
)
from custodata.normalise.text import (
    ascii_digits,
    clean_text,
    is_placeholder,
    simplified_table,
    to_halfwidth,
    to_simplified,
)
from custodata.normalise.uscc import check_uscc, make_uscc, normalise_uscc, uscc_check_char

__all__ = [
    "Address",
    "DateStatus",
    "Gazetteer",
    "IdStatus",
    "Region",
    "ascii_digits",
    "check_id",
    "check_mobile",
    "check_uscc",
    "city_short",
    "city_to_province",
    "clean_text",
    "company_name_key",
    "district_to_city",
    "email_address",
    "family_name",
    "gazetteer",
    "id_birth_date",
    "id_check_char",
    "id_gender",
    "is_placeholder",
    "load_regions",
    "make_uscc",
    "name_pinyin",
    "normalise_company_name",
    "normalise_email",
    "normalise_gender",
    "normalise_id",
    "normalise_landline",
    "normalise_mobile",
    "normalise_name",
    "normalise_uscc",
    "parse_date",
    "province_short",
    "simplified_table",
    "split_address",
    "to_halfwidth",
    "to_simplified",
    "uscc_check_char",
]
