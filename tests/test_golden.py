"""Survivorship: each golden field is chosen by its own configured criteria."""

from __future__ import annotations

from custodata.engine.port import BatchEngine
from custodata.engine.store import open_store
from custodata.resolution.config import ResolutionConfig, Survivorship, load_config
from custodata.resolution.golden import build_golden
from custodata.resolution.identity import ensure_tables

STORE = open_store(None)  # replaced per test by _store()


def _store() -> BatchEngine:
    global STORE
    STORE = store = open_store(None)
    con = store.engine
    ensure_tables(con)
    con.execute(
        """CREATE TABLE customer.party AS SELECT * FROM (VALUES
        ('core:1:h', 'core', 90, TIMESTAMP '2024-01-01', 'b1', '张伟', 'zhangwei', '110105198503071230',
         '13800000001', 'zw@old.cn', '北京市北京市朝阳区建国路1号', DATE '1985-03-07'),
        ('card:9:h', 'card', 60, TIMESTAMP '2024-06-01', 'b2', 'ZHANG WEI', 'zhangwei', NULL,
         '13900000002', NULL, '北京市北京市朝阳区建国路1号3单元502室', NULL),
        ('desk:5:c', 'desk', 30, TIMESTAMP '2024-09-01', 'b3', '张玮', 'zhangwei', NULL,
         '13700000003', 'zw@new.cn', NULL, NULL)
        ) t(obs_id, source, trust, updated_at, batch_id, name, name_pinyin, id_number, mobile, email,
            address, birth_date)"""
    )
    con.execute(
        "ALTER TABLE customer.party ADD COLUMN ingested_at TIMESTAMP DEFAULT TIMESTAMP '2024-10-01'"
    )
    for col in ("uscc", "phone", "gender", "province", "city", "district", "kind"):
        con.execute(f"ALTER TABLE customer.party ADD COLUMN {col} VARCHAR")
    # protected fields arrive encrypted and bound to their observation, with their tokens beside them
    store.protector.keyring.ensure(["b-test"])
    _protect(con)
    con.execute(
        "INSERT INTO customer.xref SELECT obs_id, 'C1', 'individual', source, NULL, NULL, batch_id, "
        "batch_id, 'R0' FROM customer.party"
    )
    return con


def _protect(con: BatchEngine) -> None:
    for f in ("id_number", "mobile"):
        con.execute(f"ALTER TABLE customer.party ADD COLUMN IF NOT EXISTS {f}_token VARCHAR")
        con.execute(f"UPDATE customer.party SET {f}_token = cd_tok('{f}', {f}), "
                    f"{f} = cd_enc({f}, 'b-test', obs_id || '|{f}') WHERE {f} NOT LIKE 'cd1:%'")


def _plain(customer_id: str, field: str, value: str | None) -> str | None:
    return STORE.protector.decrypt(value, f"{customer_id}|{field}")


def test_per_field_survivorship() -> None:
    con = _store()
    config = ResolutionConfig(survivorship=Survivorship(
        default=["trust", "recency", "completeness"],
        fields={"name": ["han", "trust"], "mobile": ["recency"], "address": ["completeness"]},
    ))
    build_golden(con, config, "R1", keyring=STORE.protector.keyring)
    g = con.one("SELECT name, mobile, email, address, id_number, provenance FROM customer.golden")
    assert g is not None
    name, mobile, email, address, id_number, provenance = g
    mobile, id_number = _plain("C1", "mobile", mobile), _plain("C1", "id_number", id_number)
    assert name == "张伟"  # Chinese characters beat pinyin, then trust beats the ticket's homophone
    assert mobile == "13700000003"  # recency: the newest mobile wins
    assert email == "zw@old.cn"  # default: trust first
    assert address.endswith("502室")  # completeness: the most specific address
    assert id_number == "110105198503071230"
    assert provenance["mobile"] == "desk:5:c" and provenance["name"] == "core:1:h"


def test_history_records_changes_with_cause() -> None:
    con = _store()
    config = load_config()  # shipped defaults: mobile by recency
    build_golden(con, config, "R1", keyring=STORE.protector.keyring)
    created = con.one("SELECT count(*) FROM customer.history WHERE cause = 'created'")
    assert created is not None and created[0] >= 5
    con.execute("UPDATE customer.party SET mobile = '13600000009', updated_at = TIMESTAMP '2025-01-01' "
                "WHERE obs_id = 'card:9:h'")
    _protect(con)
    build_golden(con, config, "R2", keyring=STORE.protector.keyring)
    rows = con.rows(
        "SELECT field, old_value, new_value, run_id, batch_id, cause FROM customer.history WHERE run_id = 'R2'")
    # protected fields enter the history as their keyed tokens, never in plaintext
    token = STORE.protector.token
    assert rows == [("mobile", token("mobile", "13700000003"), token("mobile", "13600000009"), "R2", "b2",
                     "survivorship: value from card:9:h")]
