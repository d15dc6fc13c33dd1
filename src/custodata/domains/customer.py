"""Customer data total domain [客户数据总域]: party observations ready for resolution.

Every party named in the latest version of every business record becomes one
observation, identified as ``source:record_key:role`` so lineage back to the
source row is never lost.  Protected fields (ID number, mobile) arrive encrypted,
bound to this very observation, with their keyed tokens beside them; erased
parties arrive blank and are left out.  Values are normalised here once (pinyin keys,
address parts, derived birth date and gender) so matching, survivorship and
search all compare the same forms.
"""

from __future__ import annotations

from custodata.engine.lookups import business_cut_sql
from custodata.engine.port import BatchEngine

OBSERVATIONS = "customer.party"
PARTY_BATCHES = "customer.party_batch"  # the batches the observations were last derived from
DIRTY_OBS = "_dirty_obs"  # observations a refresh replaced or added (temp)
PARTIES_BEFORE = "_parties_before"  # the replaced observations as they were (temp)

PARTY_SELECT = """
WITH latest AS (
    SELECT * FROM {records}
    QUALIFY row_number() OVER (
        PARTITION BY _source, record_key
        ORDER BY _ingested_at DESC, updated_at DESC NULLS LAST, _batch_id DESC) = 1
), parties AS (
    SELECT _source, _business_type, _batch_id, _ingested_at, _trust, record_key,
           coalesce(updated_at, _ingested_at) AS updated_at, unnest(parties) AS p
    FROM latest
), honorific AS (
    -- call-centre habit: '李先生' / '王女士' is a family name and a gender, not a name
    SELECT * REPLACE (
        CASE WHEN p.kind = 'individual' AND regexp_matches(coalesce(p.name, ''), '^.{{1,2}}(先生|女士|小姐)$')
             THEN struct_update(p, name := NULL,
                                family_name := regexp_extract(p.name, '^(.{{1,2}})(先生|女士|小姐)$', 1),
                                gender := coalesce(p.gender, CASE WHEN p.name LIKE '%先生' THEN 'M' ELSE 'F' END))
             ELSE p END AS p)
    FROM parties
), typed AS (
    SELECT *, cd_address(coalesce(p.address,
                nullif(concat_ws('', p.province, p.city, p.district), ''))) AS a
    FROM honorific
    WHERE p.kind <> 'erased'
      AND (p.name IS NOT NULL OR p.family_name IS NOT NULL OR p.id_number IS NOT NULL OR p.uscc IS NOT NULL
           OR p.mobile IS NOT NULL)
)
SELECT
    _source || ':' || record_key || ':' || p.role AS obs_id,
    _source AS source, _business_type AS business_type, _batch_id AS batch_id,
    _ingested_at AS ingested_at, _trust AS trust, record_key, updated_at,
    p.role AS role, p.kind AS kind,
    CASE WHEN p.kind = 'corporate' THEN cd_company(p.name) ELSE p.name END AS name,
    CASE WHEN p.kind = 'corporate' THEN NULL ELSE cd_pinyin(p.name) END AS name_pinyin,
    CASE WHEN p.kind = 'corporate' THEN NULL ELSE coalesce(cd_family(p.name), p.family_name) END AS family_name,
    CASE WHEN p.kind = 'corporate' THEN cd_company_key(p.name) END AS company_key,
    CASE WHEN p.kind = 'corporate' THEN NULL ELSE p.id_number END AS id_number,
    CASE WHEN p.kind = 'corporate' THEN NULL ELSE p.id_number_token END AS id_number_token,
    p.uscc AS uscc,
    p.birth_date AS birth_date,
    p.gender AS gender,
    p.mobile AS mobile,
    p.mobile_token AS mobile_token,
    p.phone AS phone,
    p.email AS email,
    a.full AS address,
    coalesce(a.province, p.province) AS province,
    coalesce(a.city, p.city) AS city,
    coalesce(a.district, p.district) AS district,
    p.postcode AS postcode
FROM typed
"""
PARTY_SQL = f"CREATE OR REPLACE TABLE {OBSERVATIONS} AS " + PARTY_SELECT.format(records="business.total")


def build_parties(ex: BatchEngine) -> None:
    """Every observation again from every latest business record, and the batches it was built from."""
    ex.execute(PARTY_SQL)
    ex.execute(f"CREATE OR REPLACE TABLE {PARTY_BATCHES} AS "
                   "SELECT DISTINCT _batch_id AS batch_id FROM business.total")


def refreshable(db: BatchEngine) -> bool:
    """Whether :func:`refresh_parties` can update the observations (no batch they were built from went)."""
    if not (db.exists(OBSERVATIONS) and db.exists(PARTY_BATCHES)):
        return False
    gone = db.one(f"SELECT count(*) FROM {PARTY_BATCHES} WHERE batch_id NOT IN "
                       "(SELECT DISTINCT _batch_id FROM business.total)")
    return bool(gone is not None and gone[0] == 0)


def refresh_parties(ex: BatchEngine) -> None:
    """Observations again only for the business records new batches carry (see :func:`refreshable`).

    A record's latest version can only change when a batch brings a new version of
    it, so the observations of every other record stay as they are, and the result is
    row for row what :data:`PARTY_SQL` gives.  Batches that went (a re-loaded export
    replacing its batch) can make an older version latest again: then the table is
    built whole (:func:`build_parties`), as on the first run.  :data:`DIRTY_OBS` holds
    the observations replaced or added, :data:`PARTIES_BEFORE` the replaced ones as
    they were.
    """
    db = ex
    db.execute("CREATE OR REPLACE TEMP TABLE _dirty_keys AS SELECT DISTINCT _source, record_key "
                f"FROM business.total WHERE _batch_id NOT IN (SELECT batch_id FROM {PARTY_BATCHES})")
    # the keys' record_key first: a column the look-up indexes (engine/lookups.py) reach, where the
    # (source, record_key) pair alone scans every observation and, through the total domain's
    # union view, every business record (most of a one-record create's seconds at 100k customers)
    keyed = ("record_key IN (SELECT record_key FROM _dirty_keys) "
             "AND (source, record_key) IN (SELECT (_source, record_key) FROM _dirty_keys)")
    db.execute(f"CREATE OR REPLACE TEMP TABLE {PARTIES_BEFORE} AS SELECT * FROM {OBSERVATIONS} WHERE {keyed}")
    db.execute(f"DELETE FROM {OBSERVATIONS} WHERE obs_id IN (SELECT obs_id FROM {PARTIES_BEFORE})")
    db.execute("CREATE OR REPLACE TEMP TABLE _dirty_record_keys AS SELECT _source AS source, record_key "
               "FROM _dirty_keys")
    cut = business_cut_sql(db, "_dirty_record_keys")
    records = f"({cut})" if cut else ("(SELECT * FROM business.total WHERE (_source, record_key) IN "
                                      "(SELECT (_source, record_key) FROM _dirty_keys))")
    ex.execute(f"INSERT INTO {OBSERVATIONS} " + PARTY_SELECT.format(records=records))
    db.execute(f"CREATE OR REPLACE TEMP TABLE {DIRTY_OBS} AS SELECT obs_id FROM {PARTIES_BEFORE} UNION "
                f"SELECT obs_id FROM {OBSERVATIONS} WHERE {keyed}")
    db.execute("DROP TABLE IF EXISTS _dirty_record_keys")
    db.execute(f"INSERT INTO {PARTY_BATCHES} SELECT DISTINCT _batch_id FROM business.total "
                f"WHERE _batch_id NOT IN (SELECT batch_id FROM {PARTY_BATCHES})")
