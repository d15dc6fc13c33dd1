"""Business data sub-domains [业务数据分域] and the total domain [业务数据总域].

Each business type gets one sub-domain table with the same typed shape, so the
total domain is a plain union.  Every row carries its marks [标志] — source,
business type, batch, ingested_at, record hash — and the parties the record
names as a list, so the customer domain can take them from one place.
Rows that fail validation never enter; they go to ``meta.quarantine`` with one
reason code each.
"""

from __future__ import annotations

from custodata.fields import DATE_FIELDS, PARTY_FIELDS, RECORD_FIELDS, BusinessType
from custodata.quality import QuarantineReason as R
from custodata.sources.mapping import PartyMapping, SourceMapping

PARTY_STRUCT = (
    "STRUCT(role VARCHAR, kind VARCHAR, name VARCHAR, family_name VARCHAR, given_name VARCHAR, "
    "id_type VARCHAR, id_number VARCHAR, uscc VARCHAR, birth_date DATE, gender VARCHAR, "
    "mobile VARCHAR, phone VARCHAR, email VARCHAR, address VARCHAR, province VARCHAR, "
    "city VARCHAR, district VARCHAR, postcode VARCHAR)"
)
TAG_STRUCT = "STRUCT(kind VARCHAR, name VARCHAR, value VARCHAR)"


def _record_column_type(field: str) -> str:
    if field == "amount":
        return "DOUBLE"
    if field in DATE_FIELDS:
        return "DATE"
    return "VARCHAR"


SUBDOMAIN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source", "VARCHAR"),
    ("_business_type", "VARCHAR"),
    ("_batch_id", "VARCHAR"),
    ("_ingested_at", "TIMESTAMP"),
    ("_record_hash", "VARCHAR"),
    ("_row", "BIGINT"),
    ("_trust", "INTEGER"),
    ("record_key", "VARCHAR"),
    ("updated_at", "TIMESTAMP"),
    *((f, _record_column_type(f)) for f in RECORD_FIELDS),
    ("parties", f"{PARTY_STRUCT}[]"),
    ("tags", f"{TAG_STRUCT}[]"),
)


def subdomain_table(business_type: BusinessType | str) -> str:
    return f"business.{BusinessType(business_type).value}"


def subdomain_ddl(business_type: BusinessType | str) -> str:
    cols = ", ".join(f'"{c}" {t}' for c, t in SUBDOMAIN_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {subdomain_table(business_type)} ({cols})"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _raw(column: str) -> str:
    """A landing value with blanks as NULL."""
    return f"nullif(trim({_col(column)}), '')"


def _party_columns(party: PartyMapping) -> dict[str, str]:
    """canonical field -> source column for one party."""
    return {canonical: column for column, canonical in party.fields.items()}


def _party_struct(party: PartyMapping, fmts: str) -> str:
    cols = _party_columns(party)

    def get(field: str, expr: str = "cd_clean({})") -> str:
        return expr.format(_raw(cols[field])) if field in cols else "NULL"

    name = get("name", "cd_name({})")
    if "name" not in cols and ("family_name" in cols or "given_name" in cols):
        name = (
            f"cd_name(concat_ws('', {get('family_name')}, {get('given_name')}))"
        )
    uscc = get("uscc", "cd_uscc({})")
    if party.kind.value == "auto":
        kind = (
            f"CASE WHEN {uscc} IS NOT NULL OR coalesce(cd_is_company({name}), false) "
            "THEN 'corporate' ELSE 'individual' END"
        )
    else:
        kind = _lit(party.kind.value)
    id_number = get("id_number", "cd_id({})")
    birth = get("birth_date", f"cd_date({{}}, {_lit(fmts)})")
    gender = get("gender", "cd_gender({})")
    values = {
        "role": _lit(party.role.value),
        "kind": kind,
        "name": name,
        "family_name": get("family_name"),
        "given_name": get("given_name"),
        "id_type": get("id_type"),
        "id_number": id_number,
        "uscc": uscc,
        "birth_date": f"coalesce({birth}, cd_id_birth({id_number}))",
        "gender": f"coalesce({gender}, cd_id_gender({id_number}))",
        "mobile": get("mobile", "cd_mobile({})"),
        "phone": get("phone", "cd_landline({})"),
        "email": get("email", "cd_email({})"),
        "address": get("address"),
        "province": get("province"),
        "city": get("city"),
        "district": get("district"),
        "postcode": get("postcode"),
    }
    if set(values) != {"role", "kind", *PARTY_FIELDS}:  # the struct must stay in step with PARTY_FIELDS
        raise RuntimeError("party struct and PARTY_FIELDS disagree")
    return "{" + ", ".join(f"'{k}': {v}" for k, v in values.items()) + "}"


def _party_identified(party: PartyMapping) -> str:
    cols = _party_columns(party)
    checks = []
    for field, fn in (("name", "cd_name"), ("id_number", "cd_id"), ("uscc", "cd_uscc"),
                      ("mobile", "cd_mobile")):
        if field in cols:
            checks.append(f"{fn}({_raw(cols[field])}) IS NOT NULL")
    return "(" + " OR ".join(checks or ["false"]) + ")"


def _reason_checks(mapping: SourceMapping, fmts: str) -> list[tuple[str, str, str]]:
    """(condition, reason, detail expression) in the order they are tested."""
    checks: list[tuple[str, str, str]] = [
        (f"{_raw(mapping.record_key)} IS NULL", R.MISSING_RECORD_KEY,
         _lit(f"column {mapping.record_key} is empty")),
    ]
    for party in mapping.parties:
        cols = _party_columns(party)
        if "id_number" in cols:
            raw = _raw(cols["id_number"])
            checks.append((f"cd_id_status({raw}) = 'checksum'", R.ID_CHECKSUM,
                           _lit(f"{party.role.value} {cols['id_number']}: check digit does not match")))
            checks.append((f"cd_id_status({raw}) = 'format'", R.ID_FORMAT,
                           _lit(f"{party.role.value} {cols['id_number']}: not a resident ID number")))
        if "uscc" in cols:
            raw = _raw(cols["uscc"])
            checks.append((f"cd_uscc_status({raw}) IN ('checksum', 'format')", R.USCC_INVALID,
                           _lit(f"{party.role.value} {cols['uscc']}: not a valid USCC")))
        if "birth_date" in cols:
            raw = _raw(cols["birth_date"])
            checks.append((f"cd_date_status({raw}, {_lit(fmts)}) = 'invalid'", R.DATE_INVALID,
                           f"'{cols['birth_date']}: ' || {raw}"))
    for column, canonical in mapping.fields.items():
        if canonical in DATE_FIELDS:
            raw = _raw(column)
            checks.append((f"cd_date_status({raw}, {_lit(fmts)}) = 'invalid'", R.DATE_INVALID,
                           f"'{column}: ' || {raw}"))
        if canonical == "amount":
            raw = _raw(column)
            checks.append((f"coalesce(cd_amount_invalid({raw}), false)", R.AMOUNT_INVALID,
                           f"'{column}: ' || {raw}"))
    identified = " OR ".join(_party_identified(p) for p in mapping.parties)
    checks.append((f"NOT ({identified})", R.PARTY_EMPTY, _lit("no name, ID, USCC or mobile")))
    return checks


def typed_select(mapping: SourceMapping, landing_table: str, batch_id: str, ingested_at: str) -> str:
    """SQL typing and validating one landed batch; ``_reason`` is NULL for accepted rows."""
    fmts = "|".join(mapping.date_formats)
    record = {canonical: column for column, canonical in mapping.fields.items()}
    outs: list[str] = [
        f"{_lit(mapping.system)} AS _source",
        f"{_lit(mapping.business_type.value)} AS _business_type",
        f"{_lit(batch_id)} AS _batch_id",
        f"TIMESTAMP {_lit(ingested_at)} AS _ingested_at",
        "sha256(CAST(to_json(struct_pack("
        + ", ".join(f"{_col(c)} := {_col(c)}" for c in mapping.columns())
        + ")) AS VARCHAR)) AS _record_hash",
        "_row",
        f"{mapping.trust} AS _trust",
        f"{_raw(mapping.record_key)} AS record_key",
    ]
    if mapping.updated_at:
        raw = _raw(mapping.updated_at)
        outs.append(
            f"coalesce(try_cast(cd_clean({raw}) AS TIMESTAMP), "
            f"CAST(cd_date({raw}, {_lit(fmts)}) AS TIMESTAMP)) AS updated_at"
        )
    else:
        outs.append("CAST(NULL AS TIMESTAMP) AS updated_at")
    for field in RECORD_FIELDS:
        if field not in record:
            outs.append(f"CAST(NULL AS {_record_column_type(field)}) AS {field}")
            continue
        raw = _raw(record[field])
        if field == "amount":
            expr = f"CASE WHEN isnan(cd_amount({raw})) THEN NULL ELSE cd_amount({raw}) END"
        elif field in DATE_FIELDS:
            expr = f"cd_date({raw}, {_lit(fmts)})"
        else:
            expr = f"cd_clean({raw})"
        outs.append(f"{expr} AS {field}")
    outs.append(
        f"CAST([{', '.join(_party_struct(p, fmts) for p in mapping.parties)}] AS {PARTY_STRUCT}[]) AS parties"
    )
    tags = ", ".join(
        f"{{'kind': {_lit(t.kind.value)}, 'name': {_lit(t.name)}, 'value': cd_clean({_raw(t.column)})}}"
        for t in mapping.tags
    )
    outs.append(
        f"list_filter(CAST([{tags}] AS {TAG_STRUCT}[]), t -> t.value IS NOT NULL) AS tags"
        if tags else f"CAST([] AS {TAG_STRUCT}[]) AS tags"
    )
    checks = _reason_checks(mapping, fmts)
    reason = "CASE " + " ".join(f"WHEN {c} THEN {_lit(r)}" for c, r, _ in checks) + " END"
    detail = "CASE " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
    return (
        f"SELECT {', '.join(outs)}, {reason} AS _reason, {detail} AS _detail, "
        f"CAST(to_json(l) AS VARCHAR) AS _raw FROM {landing_table} AS l"
    )


def dedupe_within_batch_sql(typed_table: str) -> str:
    """Mark all but the newest version of a record key in one batch as duplicates."""
    return (
        f"UPDATE {typed_table} SET _reason = '{R.DUPLICATE_RECORD.value}', "
        "_detail = 'record key ' || record_key || ' appears more than once in this batch' "
        f"WHERE _reason IS NULL AND _row IN (SELECT _row FROM (SELECT _row, row_number() OVER ("
        "PARTITION BY record_key ORDER BY updated_at DESC NULLS LAST, _row DESC) AS rn "
        f"FROM {typed_table} WHERE _reason IS NULL) WHERE rn > 1)"
    )


def total_domain_sql(business_types: list[str]) -> str:
    """The business data total domain: every sub-domain, marks kept."""
    if not business_types:
        cols = ", ".join(f"CAST(NULL AS {t}) AS \"{c}\"" for c, t in SUBDOMAIN_COLUMNS)
        return f"CREATE OR REPLACE VIEW business.total AS SELECT {cols} WHERE false"
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {subdomain_table(b)}" for b in sorted(business_types))
    return f"CREATE OR REPLACE VIEW business.total AS {union}"
