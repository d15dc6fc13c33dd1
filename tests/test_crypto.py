"""Envelope encryption and tokens: round trips, bound ciphertexts, rotation, crypto-shredding."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custodata.crypto import KeyRing, LocalKeyFileProvider, Protector
from custodata.crypto.kek import MemoryKeyProvider, load_provider
from custodata.engine.duckdb_engine import DuckDBEngine
from custodata.errors import ConfigError, CryptoError, KeyDestroyedError, StateError


def _protector(provider: LocalKeyFileProvider | None = None) -> Protector:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA meta")
    keyring = KeyRing(DuckDBEngine(con), provider or MemoryKeyProvider())
    keyring.ensure(["b-1", "c-C1", "c-C2"])
    return Protector(keyring)


PROTECTOR = _protector()


@settings(max_examples=200, deadline=None)
@given(value=st.text(), aad=st.text())
def test_round_trip(value: str, aad: str) -> None:
    ct = PROTECTOR.encrypt(value, "b-1", aad)
    assert ct is not None and ct.startswith("cd1:b-1:")
    assert PROTECTOR.decrypt(ct, aad) == value


def test_same_value_encrypts_differently_each_time() -> None:
    assert PROTECTOR.encrypt("13812345678", "b-1", "x") != PROTECTOR.encrypt("13812345678", "b-1", "x")


@pytest.mark.parametrize(
    ("aad", "other"),
    [
        ("policy_core:P1:insured|mobile", "policy_core:P2:insured|mobile"),  # another row
        ("policy_core:P1:insured|mobile", "policy_core:P1:insured|id_number"),  # another field
        ("C1|mobile", "C2|mobile"),  # another customer's golden record
    ],
)
def test_a_ciphertext_moved_to_another_row_or_field_does_not_decrypt(aad: str, other: str) -> None:
    ct = PROTECTOR.encrypt("13812345678", "b-1", aad)
    with pytest.raises(CryptoError, match="does not belong"):
        PROTECTOR.decrypt(ct, other)


def test_swapping_two_rows_ciphertexts_fails_both_ways() -> None:
    a = PROTECTOR.encrypt("110105198503071230", "c-C1", "C1|id_number")
    b = PROTECTOR.encrypt("320104199901017588", "c-C2", "C2|id_number")
    with pytest.raises(CryptoError):
        PROTECTOR.decrypt(b, "C1|id_number")
    with pytest.raises(CryptoError):
        PROTECTOR.decrypt(a, "C2|id_number")


@pytest.mark.parametrize(
    "bad", ["hello", "cd1:b-1:!!!", "cd1:b-1:" + "A" * 40, "cd1:nokey:" + "A" * 40, "xx1:b-1:AAAA"]
)
def test_garbage_and_tampering_are_refused(bad: str) -> None:
    with pytest.raises(CryptoError):
        PROTECTOR.decrypt(bad, "x")
    ct = PROTECTOR.encrypt("secret", "b-1", "x")
    assert ct is not None
    mid = len(ct) - 12  # inside the tag, clear of base64 padding bits
    flipped = ct[:mid] + ("A" if ct[mid] != "A" else "B") + ct[mid + 1:]
    with pytest.raises(CryptoError):
        PROTECTOR.decrypt(flipped, "x")


def test_tokens_are_deterministic_keyed_and_per_kind() -> None:
    t = PROTECTOR.token("mobile", "13812345678")
    assert t == PROTECTOR.token("mobile", "13812345678") and t is not None and t.startswith("tk1:")
    assert "13812345678" not in t
    assert PROTECTOR.token("id_number", "13812345678") != t  # kinds never collide
    assert _protector().token("mobile", "13812345678") != t  # another key custody, another token key
    assert PROTECTOR.token("mobile", "00000000000") is None  # placeholders never match anything
    assert PROTECTOR.token("mobile", None) is None


def test_destroyed_key_makes_its_data_unreadable_and_is_never_recreated() -> None:
    p = _protector()
    ct = p.encrypt("110105198503071230", "c-C1", "C1|id_number")
    other = p.encrypt("320104199901017588", "c-C2", "C2|id_number")
    assert p.keyring.destroy(["c-C1"]) == 1
    with pytest.raises(KeyDestroyedError):
        p.decrypt(ct, "C1|id_number")
    assert p.decrypt(other, "C2|id_number") == "320104199901017588"  # nobody else is affected
    with pytest.raises(StateError, match="never re-created"):
        p.keyring.ensure(["c-C1"])
    wrapped = p.keyring.db.one("SELECT wrapped, destroyed_at FROM meta.data_key WHERE key_id = 'c-C1'")
    assert wrapped is not None and wrapped[0] is None and wrapped[1] is not None
    # a fresh key ring over the same table knows the key is gone
    p.keyring.reload()
    with pytest.raises(KeyDestroyedError):
        p.decrypt(ct, "C1|id_number")


def test_kek_rotation_rewraps_keys_and_keeps_all_data_readable(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "kek.json"
    provider = LocalKeyFileProvider(key_file)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    p = _protector(provider)
    values = {f"C{i}|mobile": f"1381234{i:04d}" for i in range(50)}
    cts = {aad: p.encrypt(v, "b-1", aad) for aad, v in values.items()}
    token = p.token("mobile", "13812345678")
    blob_before = p.keyring.db.one("SELECT wrapped FROM meta.data_key WHERE key_id = 'b-1'")
    assert provider.rotate() == "2"
    assert p.keyring.rewrap() == 3  # b-1, c-C1 and c-C2; no field touched
    blob_after = p.keyring.db.one("SELECT wrapped, kek_version FROM meta.data_key WHERE key_id = 'b-1'")
    assert blob_after is not None and blob_before is not None
    assert blob_after[0] != blob_before[0] and blob_after[1] == "2"
    provider.retire("1")
    assert json.loads(key_file.read_text())["keys"].keys() == {"2"}
    assert LocalKeyFileProvider(key_file).token_key() == provider.token_key()
    # a new process: the key file from disk, the wrapped keys from the store
    again = Protector(KeyRing(p.keyring.db, LocalKeyFileProvider(key_file)))
    assert all(again.decrypt(ct, aad) == values[aad] for aad, ct in cts.items())
    assert again.token("mobile", "13812345678") == token  # joins survive rotation


def test_current_version_cannot_be_retired_and_bad_key_files_are_refused(tmp_path: Path) -> None:
    provider = LocalKeyFileProvider(tmp_path / "kek.json")
    with pytest.raises(CryptoError):
        provider.retire(provider.current_version())
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match="bad.json"):
        LocalKeyFileProvider(bad)


def test_provider_is_pluggable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODATA_KEY_PROVIDER", "custodata.crypto.kek:NoSuchProvider")
    with pytest.raises(ConfigError, match="module:Class"):
        load_provider(tmp_path)
    monkeypatch.setenv("CUSTODATA_KEY_PROVIDER", "tests.test_crypto:FileInFolder")
    assert load_provider(tmp_path).name == "local-file"
    monkeypatch.delenv("CUSTODATA_KEY_PROVIDER")
    monkeypatch.setenv("CUSTODATA_KEK_FILE", str(tmp_path / "elsewhere.json"))
    load_provider(tmp_path / "out")
    assert (tmp_path / "elsewhere.json").exists()


class FileInFolder(LocalKeyFileProvider):
    """A stand-in for a KMS provider: constructed from the store's folder, as custodata does."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder / "kms.json")


def test_a_missing_or_loose_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    key_file = tmp_path / "kek.json"
    with pytest.raises(ConfigError, match="key file not found"):
        LocalKeyFileProvider(key_file, create=False)
    assert not key_file.exists()
    LocalKeyFileProvider(key_file)
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        LocalKeyFileProvider(key_file)
