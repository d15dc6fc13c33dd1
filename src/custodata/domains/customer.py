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

OBSERVATIONS = "customer.party"

PARTY_SQL = f"""
CREATE OR REPLACE TABLE {OBSERVATIONS} AS
WITH latest AS (
    SELECT * FROM business.total
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
