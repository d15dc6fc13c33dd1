"""Customer business-layer sub-domains [客户数据业务层分域] and total domain [客户数据业务层总域].

Golden records meet the business they do: per customer, what they hold in each
business type, their tags (raw tags from the source systems plus computed
ones) and a segment.  The sub-domains split customers by type (individual,
high-net-worth, corporate, SME); the total domain is the unified customer view
every later consumer reads.
"""

from __future__ import annotations

from custodata.engine.lookups import business_cut_sql
from custodata.engine.port import BatchEngine
from custodata.errors import EngineError
from custodata.fields import CustomerType
from custodata.resolution.config import ResolutionConfig
from custodata.tags.rules import TagRules, tags_sql

VIEW = "layer.customer_view"


def layer_table(customer_type: CustomerType | str) -> str:
    return f"layer.{CustomerType(customer_type).value}"


def _money(where: str) -> str:
    """A sum of amounts, exact (decimal): it does not depend on the order rows arrive in, so a
    customer's row is the same built alone or with everyone (incremental = full)."""
    return f"coalesce(CAST(sum(CAST(amount AS DECIMAL(38, 4))) FILTER (WHERE {where}) AS DOUBLE), 0)"


def _exists(db: BatchEngine) -> bool:
    return db.exists(VIEW)


def _cut(db: BatchEngine, only: str) -> dict[str, str]:
    """Temp tables of the golden records, xref, parties and every version of the business records of ``only``."""
    ids = f"(SELECT customer_id FROM {only})"
    db.execute(f"CREATE OR REPLACE TEMP TABLE _l_golden AS SELECT * FROM customer.golden WHERE customer_id IN {ids}")
    db.execute(f"CREATE OR REPLACE TEMP TABLE _l_xref AS SELECT * FROM customer.xref WHERE customer_id IN {ids}")
    db.execute("CREATE OR REPLACE TEMP TABLE _l_party AS SELECT * FROM customer.party "
                "WHERE obs_id IN (SELECT obs_id FROM _l_xref)")
    records = business_cut_sql(db, "_l_party") or (
        "SELECT * FROM business.total WHERE (_source, record_key) IN (SELECT (source, record_key) FROM _l_party)")
    db.execute(f"CREATE OR REPLACE TEMP TABLE _l_business AS {records}")
    return {"golden": "_l_golden", "xref": "_l_xref", "party": "_l_party", "business": "_l_business"}


def build_layer(
    db: BatchEngine, config: ResolutionConfig, rules: TagRules, only: str | None = None,
) -> dict[str, int]:
    """Build the layer sub-domains and the total domain; returns customers per customer type.

    ``only``: a table of customer ids (:mod:`custodata.resolution.affected`) whose rows are
    deleted and built again, with the same SQL restricted to them and their business
    records; everyone else's rows stay.
    """
    ct = config.customer_types
    computed_tags, segment = tags_sql(rules)
    if only is not None and not _exists(db):
        only = None
    # the same SQL either way; incrementally over cuts of the tables holding only the set's rows,
    # taken through the look-up indexes (engine/lookups.py): joining the whole xref, parties and
    # business records to find a few customers' rows was a scan of each per change
    src = _cut(db, only) if only else {
        "golden": "customer.golden", "xref": "customer.xref", "party": "customer.party",
        "business": "business.total"}
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _aggregates AS
        WITH latest AS (
            SELECT * FROM {src["business"]}
            QUALIFY row_number() OVER (PARTITION BY _source, record_key
                ORDER BY _ingested_at DESC, updated_at DESC NULLS LAST, _batch_id DESC) = 1
        ), rec AS MATERIALIZED (
            SELECT DISTINCT x.customer_id, p.role, b._source, b.record_key, b._business_type AS bt,
                   b.amount, b.category, b.product, b.tags
            FROM {src["xref"]} x JOIN {src["party"]} p USING (obs_id)
            JOIN latest b ON b._source = p.source AND b.record_key = p.record_key
        ), raw_tags AS (
            SELECT customer_id, list_sort(list(t)) AS raw_tags
            FROM (SELECT DISTINCT customer_id, t FROM (SELECT customer_id, unnest(tags) AS t FROM rec))
            GROUP BY customer_id
        ), held AS (  -- one row per record a customer holds: counted without DISTINCT aggregates,
                      -- which the engine keeps in memory per group (plain counts and sums spill)
            SELECT customer_id, bt, record_key, bool_or(category LIKE '%投诉%') AS complaint
            FROM rec WHERE record_key IS NOT NULL GROUP BY customer_id, bt, record_key
        ), counts AS (
            SELECT customer_id,
                count(*) FILTER (WHERE bt = 'auto_policy') AS n_auto,
                count(*) FILTER (WHERE bt = 'accident_policy') AS n_accident,
                count(*) FILTER (WHERE bt = 'health_policy') AS n_health,
                count(*) FILTER (WHERE bt = 'deposit') AS n_deposit,
                count(*) FILTER (WHERE bt = 'card') AS n_card,
                count(*) FILTER (WHERE bt = 'loan') AS n_loan,
                count(*) FILTER (WHERE bt = 'service') AS n_ticket,
                count(*) FILTER (WHERE bt = 'service' AND complaint) AS n_complaint
            FROM held GROUP BY customer_id
        ), policy_types AS (
            SELECT customer_id, count(*) AS n_policy_types
            FROM (SELECT DISTINCT customer_id, bt FROM rec WHERE bt LIKE '%_policy') GROUP BY customer_id
        ), money AS (
            SELECT customer_id,
                {_money("bt = 'deposit' AND role = 'account_holder'")}
                    AS deposit_balance,
                {_money("bt LIKE '%_policy' AND role = 'policy_holder'")}
                    AS premium_total,
                {_money("bt = 'card'")} AS credit_limit,
                {_money("bt = 'loan' AND role = 'account_holder'")}
                    AS loan_total,
                bool_or(bt = 'loan' AND role = 'account_holder' AND product LIKE '%小微%') AS sme_loan
            FROM rec GROUP BY customer_id
        ), agg AS (
            SELECT customer_id, c.n_auto, c.n_accident, c.n_health, t.n_policy_types, c.n_deposit,
                c.n_card, c.n_loan, c.n_ticket, c.n_complaint, m.deposit_balance, m.premium_total,
                m.credit_limit, m.loan_total, m.sme_loan
            FROM money m LEFT JOIN counts c USING (customer_id) LEFT JOIN policy_types t USING (customer_id)
        )
        SELECT g.*, date_diff('year', g.birth_date, current_date) AS age,
               coalesce(a.n_auto, 0) AS n_auto, coalesce(a.n_accident, 0) AS n_accident,
               coalesce(a.n_health, 0) AS n_health, coalesce(a.n_policy_types, 0) AS n_policy_types,
               coalesce(a.n_deposit, 0) AS n_deposit, coalesce(a.n_card, 0) AS n_card,
               coalesce(a.n_loan, 0) AS n_loan, coalesce(a.n_ticket, 0) AS n_ticket,
               coalesce(a.n_complaint, 0) AS n_complaint,
               coalesce(a.deposit_balance, 0) AS deposit_balance,
               coalesce(a.premium_total, 0) AS premium_total,
               coalesce(a.credit_limit, 0) AS credit_limit, coalesce(a.loan_total, 0) AS loan_total,
               CASE
                 WHEN g.kind = 'corporate' AND (coalesce(a.sme_loan, false)
                      OR coalesce(a.deposit_balance, 0) < {float(ct.sme_max_balance)}) THEN 'sme'
                 WHEN g.kind = 'corporate' THEN 'corporate'
                 WHEN coalesce(a.deposit_balance, 0) >= {float(ct.high_net_worth_balance)}
                      THEN 'high_net_worth'
                 ELSE 'individual'
               END AS customer_type,
               coalesce(r.raw_tags, []) AS raw_tags
        FROM {src["golden"]} g LEFT JOIN agg a USING (customer_id) LEFT JOIN raw_tags r USING (customer_id)
        """
    )
    try:
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE _view AS SELECT *, {computed_tags} AS tags, "
            f"{segment} AS segment FROM _aggregates"
        )
    except EngineError as exc:
        from custodata.errors import ConfigError

        raise ConfigError(f"tag rules: a 'when' condition is not valid SQL over the aggregates: {exc}") from None
    counts = {}
    if only:
        ids = f"(SELECT customer_id FROM {only})"
        for table in (*(layer_table(t) for t in CustomerType), VIEW):
            db.execute(f"DELETE FROM {table} WHERE customer_id IN {ids}")
        for t in CustomerType:
            db.execute(f"INSERT INTO {layer_table(t)} BY NAME SELECT * FROM _view WHERE customer_type = '{t.value}' "
                        "ORDER BY customer_id")
        db.execute(f"INSERT INTO {VIEW} BY NAME SELECT * FROM _view ORDER BY customer_id")
        for t in CustomerType:
            row = db.one(f"SELECT count(*) FROM {layer_table(t)}")
            counts[t.value] = int(row[0]) if row else 0
        for cut in src.values():
            db.execute(f"DROP TABLE IF EXISTS {cut}")
        return counts
    for t in CustomerType:
        db.execute(
            f"CREATE OR REPLACE TABLE {layer_table(t)} AS SELECT * FROM _view "
            f"WHERE customer_type = '{t.value}' ORDER BY customer_id"
        )
        row = db.one(f"SELECT count(*) FROM {layer_table(t)}")
        counts[t.value] = int(row[0]) if row else 0
    db.execute(
        f"CREATE OR REPLACE TABLE {VIEW} AS "
        + " UNION ALL BY NAME ".join(f"SELECT * FROM {layer_table(t)}" for t in CustomerType)
        + " ORDER BY customer_id"
    )
    return counts
