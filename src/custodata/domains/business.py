"""Business data sub-domains [业务数据分域] and the total domain [业务数据总域].

Each business type gets one sub-domain table with the same typed shape, so the
total domain is a plain union.  Every row carries its marks [标志] — source,
business type, batch, ingested_at, record hash — and the parties the record
names as a list, so the customer domain can take them from one place.
Rows that fail validation never enter; they go to ``meta.quarantine`` with one
reason code each.
"""

from __future__ import annotations

from custodata.classification.grading import load_grading
from custodata.crypto.envelope import Protector
from custodata.errors import ConfigError
from custodata.fields import DATE_FIELDS, PARTY_FIELDS, RECORD_FIELDS, BusinessType
from custodata.normalise import clean_text
from custodata.quality import QuarantineReason as R
from custodata.sources.mapping import PartyMapping, SourceMapping

# Protected fields: stored encrypted from the sub-domains on (grading: C3 or level >= 4);
# tokenised ones also carry ``<field>_token``, the keyed token exact-match work uses instead.
_GRADING = load_grading()
# party fields entity resolution compares fuzzily must stay readable to it
_FUZZY_PARTY_FIELDS = ("name", "family_name", "given_name", "birth_date", "gender", "address",
                       "province", "city", "district", "postcode", "uscc", "id_type")
for _f in _FUZZY_PARTY_FIELDS:
    if _GRADING.field_encrypted(_f):
        raise ConfigError(f"grading: field '{_f}' is compared fuzzily by entity resolution and cannot be "
                          "graded for encryption; grade it below encrypt_at_level")
PROTECTED_PARTY_FIELDS: tuple[str, ...] = tuple(f for f in PARTY_FIELDS if _GRADING.field_encrypted(f))
PROTECTED_RECORD_FIELDS: tuple[str, ...] = tuple(f for f in RECORD_FIELDS if _GRADING.field_encrypted(f))
TOKEN_PARTY_FIELDS: tuple[str, ...] = tuple(f for f in PROTECTED_PARTY_FIELDS if _GRADING.field_tokenised(f))
TOKEN_RECORD_FIELDS: tuple[str, ...] = tuple(f for f in PROTECTED_RECORD_FIELDS if _GRADING.field_tokenised(f))


def token_kind(field: str) -> str:
    """Tokens of one kind only ever equal tokens of the same kind (a mobile never equals an ID)."""
    return _GRADING.field_type(field) or field


def _party_struct_type() -> str:
    cols = ["role VARCHAR", "kind VARCHAR"]
    for f in PARTY_FIELDS:
        cols.append(f"{f} {'DATE' if f == 'birth_date' else 'VARCHAR'}")
        if f in TOKEN_PARTY_FIELDS:
            cols.append(f"{f}_token VARCHAR")
    return "STRUCT(" + ", ".join(cols) + ")"


PARTY_STRUCT = _party_struct_type()
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
    *((f"{f}_token", "VARCHAR") for f in TOKEN_RECORD_FIELDS),
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


def _party_struct(party: PartyMapping, fmts: str, source: str, record_key: str, key_id: str) -> str:
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
    obs_id = f"{_lit(source + ':')} || {record_key} || {_lit(':' + party.role.value)}"
    stored: dict[str, str] = {}
    for k, v in values.items():
        if k in PROTECTED_PARTY_FIELDS:
            stored[k] = f"cd_enc({v}, {_lit(key_id)}, {obs_id} || {_lit('|' + k)})"
            if k in TOKEN_PARTY_FIELDS:
                stored[f"{k}_token"] = f"cd_tok({_lit(token_kind(k))}, {v})"
        else:
            stored[k] = v
    return "{" + ", ".join(f"'{k}': {v}" for k, v in stored.items()) + "}"


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
        (f"{_record_key(mapping)} IS NULL", R.MISSING_RECORD_KEY,
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
                           _lit(f"{party.role.value} {cols['birth_date']}: not a date in {fmts}")))
    for column, canonical in mapping.fields.items():
        if canonical in DATE_FIELDS:
            raw = _raw(column)
            checks.append((f"cd_date_status({raw}, {_lit(fmts)}) = 'invalid'", R.DATE_INVALID,
                           _lit(f"{column}: not a date in {fmts}")))
        if canonical == "amount":
            raw = _raw(column)
            checks.append((f"coalesce(cd_amount_invalid({raw}), false)", R.AMOUNT_INVALID,
                           _lit(f"{column}: not an amount")))
    identified = " OR ".join(_party_identified(p) for p in mapping.parties)
    checks.append((f"NOT ({identified})", R.PARTY_EMPTY, _lit("no name, ID, USCC or mobile")))
    return checks


def protected_record_key(mapping: SourceMapping) -> str | None:
    """The token kind when a system keys its records by a protected value (a card number, a mobile).

    Quarantine details name the column and the rule, never the value: values of a rejected
    row are kept only in its encrypted raw text.
    """
    canonical = mapping.fields.get(mapping.record_key)
    if canonical is None:
        canonical = next(
            (p.fields[mapping.record_key] for p in mapping.parties if mapping.record_key in p.fields), None
        )
    if canonical is None or not _GRADING.field_encrypted(canonical):
        return None
    return token_kind(canonical)


def stored_record_key(mapping: SourceMapping, raw: str, protector: Protector) -> str | None:
    """The record key as the store holds it, for a raw key from an export (ground truth, look-ups)."""
    kind = protected_record_key(mapping)
    if kind is None:
        return raw.strip() or None
    return protector.token(kind, clean_text(raw))


def _record_key(mapping: SourceMapping) -> str:
    """A record key that is itself a card or account number is kept as its token, never in plaintext."""
    kind = protected_record_key(mapping)
    raw = _raw(mapping.record_key)
    return f"cd_tok({_lit(kind)}, cd_clean({raw}))" if kind else raw


def typed_select(mapping: SourceMapping, landing_table: str, batch_id: str, ingested_at: str, key_id: str) -> str:
    """SQL typing and validating one landed batch; ``_reason`` is NULL for accepted rows.

    Protected fields leave here encrypted under the batch's data key (the
    ``key_id``), each bound to its record and field; the raw row
    kept for quarantine is encrypted too.
    """
    fmts = "|".join(mapping.date_formats)
    record = {canonical: column for column, canonical in mapping.fields.items()}
    # rows without a record key are quarantined; their values still encrypt, bound to an empty key
    record_id = f"{_lit(mapping.system + ':')} || coalesce({_record_key(mapping)}, '')"
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
        f"{_record_key(mapping)} AS record_key",
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
        if field in PROTECTED_RECORD_FIELDS:
            if field in TOKEN_RECORD_FIELDS:
                outs.append(f"cd_tok({_lit(token_kind(field))}, {expr}) AS {field}_token")
            expr = f"cd_enc({expr}, {_lit(key_id)}, {record_id} || {_lit('|' + field)})"
        outs.append(f"{expr} AS {field}")
    for field in TOKEN_RECORD_FIELDS:
        if field not in record:
            outs.append(f"CAST(NULL AS VARCHAR) AS {field}_token")
    record_key = f"coalesce({_record_key(mapping)}, '')"
    outs.append(
        f"CAST([{', '.join(_party_struct(p, fmts, mapping.system, record_key, key_id) for p in mapping.parties)}] "
        f"AS {PARTY_STRUCT}[]) AS parties"
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
        f"cd_enc(CAST(to_json(l) AS VARCHAR), {_lit(key_id)}, {_lit(batch_id + ':')} || _row || '|raw') AS _raw "
        f"FROM {landing_table} AS l"
    )


def erase_parties_sql(typed_table: str) -> str:
    """Re-ingesting an erased person's old rows must not bring them back: blank those parties.

    A party is erased when its observation (source:record_key:role) or its ID token was
    erased; a record naming an erased party also loses its protected record fields.
    """
    checks = ["cd_erased('obs:' || _source || ':' || record_key || ':' || p.role)"]
    if "id_number" in TOKEN_PARTY_FIELDS:
        checks.append("cd_erased('id_number:' || coalesce(p.id_number_token, ''))")
    hit = " OR ".join(checks)
    nulls = [f"'{f}': NULL" for f in PARTY_FIELDS] + [f"'{f}_token': NULL" for f in TOKEN_PARTY_FIELDS]
    blank = f"CAST({{'role': p.role, 'kind': 'erased', {', '.join(nulls)}}} AS {PARTY_STRUCT})"
    record_blank = ", ".join(
        [f"{f} = NULL" for f in PROTECTED_RECORD_FIELDS] + [f"{f}_token = NULL" for f in TOKEN_RECORD_FIELDS]
    )
    any_hit = f"len(list_filter(parties, p -> {hit})) > 0"
    # the record hash is an unkeyed digest of the raw row: it goes with the person
    sets = f"_record_hash = NULL, parties = list_transform(parties, p -> CASE WHEN {hit} THEN {blank} ELSE p END)"
    if record_blank:
        sets = record_blank + ", " + sets
    return f"UPDATE {typed_table} SET {sets} WHERE {any_hit}"


def dedupe_within_batch_sql(typed_table: str) -> str:
    """Mark all but the newest version of a record key in one batch as duplicates."""
    return (
        f"UPDATE {typed_table} SET _reason = '{R.DUPLICATE_RECORD.value}', "
        "_detail = 'the record key appears more than once in this batch' "
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
