"""What a run leaves on disk: no plaintext in freed blocks, owner-only modes, the key apart from the data.

Issue 10 points 17 and 18: a copy of the data folder, or another account on the host,
must not get customer identifiers or the key that decrypts them.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from custodata.crypto import LocalKeyFileProvider
from custodata.crypto.kek import default_key_dir, default_key_file, key_location_warning, load_provider
from custodata.demo.sources import generate
from custodata.engine.memory import spill_root
from custodata.engine.store import open_store
from custodata.pipeline import Pipeline
from tests.plaintext_scan import find_plaintexts, raw_forms

MINI = Path(__file__).parent / "fixtures" / "mini"
KEY_ENVS = ("CUSTODATA_KEK_FILE", "CUSTODATA_KEY_DIR", "CUSTODATA_KEY_PROVIDER", "CUSTODATA_DB_URL")


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A process with the usual 022 umask, as when custodata is used as a library."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def own_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key location configured: the defaults decide (the session's shared key file is not used)."""
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _mini_secrets(store_path: Path) -> set[str]:
    store = open_store(store_path, read_only=True)
    try:
        rows = store.con.execute(
            "SELECT cd_dec(id_number, obs_id || '|id_number') FROM customer.party WHERE id_number IS NOT NULL "
            "UNION SELECT cd_dec(mobile, obs_id || '|mobile') FROM customer.party WHERE mobile IS NOT NULL"
        ).fetchall()
    finally:
        store.close()
    return raw_forms(r[0] for r in rows if r[0])


# --- point 17: nothing deleted survives in the store file ---------------------------------------


def test_deleted_plaintext_does_not_survive_in_the_store_files_free_blocks(tmp_path: Path) -> None:
    """Stops grepping a copy of custodata.duckdb for identifiers in freed blocks (issue 10 point 17).

    DuckDB reuses freed blocks but does not wipe them: landing text or replaced rows that
    ever reached the file stay readable as bytes. Here the landing exports' text is put in
    a table and dropped (as by an older version that kept landing in the store); after
    the next run no raw form of any identifier (``+86 138 1234 5678``, ``138-1234-5678``,
    full-width digits) and no freed block is left.
    """
    out = tmp_path / "out"
    pipeline = Pipeline.create(out, mappings_dir=MINI / "mappings")
    pipeline.run(MINI / "data")
    secrets = _mini_secrets(pipeline.store_path)
    con = duckdb.connect(str(pipeline.store_path), read_only=True)
    golden = con.execute("SELECT count(*) FROM customer.golden").fetchone()
    con.close()
    assert {"13812345678", "110105198503071230"} <= secrets
    landing = "\n".join(p.read_text(encoding="utf-8") for p in sorted((MINI / "data").iterdir()))
    con = duckdb.connect(str(pipeline.store_path))
    try:  # landing text written as is, then data after it, so its freed blocks sit inside the file
        con.execute("PRAGMA force_compression = 'uncompressed'")
        con.execute("CREATE TABLE main.old_landing AS SELECT ? || range AS line FROM range(20000)", [landing])
        con.execute("CHECKPOINT")
        con.execute("CREATE TABLE main.later AS SELECT md5(range::VARCHAR) AS h FROM range(200000)")
        con.execute("CHECKPOINT")
        con.execute("DROP TABLE main.old_landing")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    before = find_plaintexts(pipeline.store_path.read_bytes(), secrets)
    assert {"13812345678", "110105198503071230"} <= before  # the scan sees raw forms in freed blocks

    pipeline.run(MINI / "data")  # the next run, even one that loads nothing new

    assert find_plaintexts(pipeline.store_path.read_bytes(), secrets) == set()
    con = duckdb.connect(str(pipeline.store_path), read_only=True)
    try:
        assert con.execute("SELECT free_blocks FROM pragma_database_size()").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM customer.golden").fetchone() == golden  # data intact
    finally:
        con.close()
    # no .wal/.tmp/.compact; the spill folder stays, empty (engine/memory.py: DuckDB removes its files at close)
    spill = spill_root(pipeline.store_path)
    assert not [p.name for p in out.iterdir() if p.name.startswith("custodata.duckdb.") and p != spill]
    assert list(spill.iterdir()) == []


def test_an_incremental_run_leaves_no_plaintext_without_rewriting_the_file(tmp_path: Path) -> None:
    """Why an incremental run may skip the rewrite: it frees only sealed rows, so nothing is there to find.

    A delta batch (the service desk's full export) derived incrementally frees rows of the
    golden records, parties and layer of the customers it touches; every identifier in
    them is sealed, and landing text never reaches the file.  The byte search of the file,
    freed blocks included, finds no raw form of any identifier although blocks were freed.
    """
    first, out = tmp_path / "first", tmp_path / "out"
    first.mkdir()
    shutil.copy(MINI / "data" / "policies.csv", first / "policies.csv")
    tickets = (MINI / "data" / "tickets.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (first / "tickets.jsonl").write_text(tickets[0], encoding="utf-8")  # the rest come in the delta
    pipeline = Pipeline.create(out, mappings_dir=MINI / "mappings")
    pipeline.run(first)
    pipeline.run(MINI / "data", derive="incremental")  # the other tickets land and are derived in place
    secrets = _mini_secrets(pipeline.store_path)
    assert {"13812345678", "110105198503071230"} <= secrets
    con = duckdb.connect(str(pipeline.store_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM business.service").fetchone() == (len(tickets),)  # it landed
        freed = con.execute("SELECT free_blocks FROM pragma_database_size()").fetchone()
    finally:
        con.close()
    assert freed is not None and freed[0] > 0  # not rewritten: the freed blocks are there to be searched
    assert find_plaintexts(pipeline.store_path.read_bytes(), secrets) == set()


# --- point 18: owner-only modes -----------------------------------------------------------------


def test_a_run_writes_every_file_0600_and_folder_0700(
    tmp_path: Path, loose_umask: None, own_keys: None
) -> None:
    """Stops another account on the host from reading the store, published files or keys (issue 10 point 18).

    Under a 022 umask (custodata used as a library) a run created everything 0644/0755;
    an existing world-readable data folder is tightened too.
    """
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o755)  # noqa: S103 - a data folder someone made world-readable
    Pipeline.create(out, mappings_dir=MINI / "mappings").run(MINI / "data")
    keys = default_key_dir(out)
    written = [out, *out.rglob("*"), keys, *keys.rglob("*")]
    names = {p.name for p in written}
    assert {"custodata.duckdb", "custodata.sqlite", "golden.parquet", "run_summary.json", "kek.json"} <= names
    loose = {str(p): oct(_mode(p)) for p in written if _mode(p) & 0o077}
    assert not loose, loose
    assert all(_mode(p) == 0o700 for p in written if p.is_dir())


def test_generated_exports_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    """Stops other accounts reading the raw exports (plaintext identifiers) in OUT/raw (issue 10 point 18)."""
    raw = tmp_path / "out" / "raw"
    generate(20, 3, raw)
    written = [raw.parent, raw, *raw.iterdir()]
    assert len(written) > 5
    assert {str(p): oct(_mode(p)) for p in written if _mode(p) & 0o077} == {}


def test_an_older_world_readable_store_is_tightened_when_opened(tmp_path: Path, loose_umask: None) -> None:
    """Stops a store written 0644 by an earlier version from staying readable to others (issue 10 point 18)."""
    out = tmp_path / "out"
    open_store(out / "custodata.duckdb").close()
    os.chmod(out, 0o755)  # noqa: S103 - as an earlier version left it
    os.chmod(out / "custodata.duckdb", 0o644)
    open_store(out / "custodata.duckdb").close()
    assert _mode(out) == 0o700 and _mode(out / "custodata.duckdb") == 0o600


def test_the_cli_process_creates_files_owner_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Stops files created by libraries under the CLI or server (WAL, spill, logs) being world-readable (point 18)."""
    import custodata.cli.app as cli

    monkeypatch.setattr(cli, "app", lambda: None)
    previous = os.umask(0o022)
    try:
        cli.main()
        (tmp_path / "made-by-a-library").write_text("x")
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "made-by-a-library") == 0o600


# --- point 18: the key folder is not inside the data folder -------------------------------------


def test_the_default_key_folder_is_outside_the_data_folder(tmp_path: Path, own_keys: None) -> None:
    """Stops a copy of out/ (backup, support bundle) carrying the KEK that decrypts it (issue 10 point 18)."""
    out = tmp_path / "out"
    assert default_key_file(out) == tmp_path / "out.keys" / "kek.json"
    assert key_location_warning(out, default_key_file(out)) is None
    store = open_store(out / "custodata.duckdb")
    store.close()
    assert (tmp_path / "out.keys" / "kek.json").exists() and not (out / "keys").exists()
    assert _mode(tmp_path / "out.keys") == 0o700 and _mode(tmp_path / "out.keys" / "kek.json") == 0o600
    # relative data folders resolve to a sibling folder too (`make demo`: out/ and out.keys/)
    assert default_key_dir(Path("out")) == Path.cwd() / "out.keys"
    # the audit signing key too: whoever holds a copy of out/ cannot re-sign the log with it
    from custodata.audit.signing import CheckpointSigner

    signer = CheckpointSigner.for_out_dir(out)
    assert signer.path == tmp_path / "out.keys" / "audit-signing.pem" and not (out / "keys").exists()


def test_an_old_key_file_inside_the_data_folder_is_kept_with_a_loud_warning(
    tmp_path: Path, own_keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Stops a deployment's OUT/keys/kek.json going unnoticed (moving it silently would strand the data)."""
    out = tmp_path / "out"
    LocalKeyFileProvider(out / "keys" / "kek.json")  # what older versions created
    assert default_key_file(out) == out / "keys" / "kek.json"
    with caplog.at_level(logging.WARNING, logger="custodata.crypto.kek"):
        provider = load_provider(out, create=False)
    assert provider.current_version() == "1"
    assert any("inside the data folder" in r.getMessage() and "decrypts everything" in r.getMessage()
               for r in caplog.records)
    assert not (tmp_path / "out.keys").exists()


def test_a_key_folder_chosen_inside_the_data_folder_is_warned_about(
    tmp_path: Path, own_keys: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Stops CUSTODATA_KEY_DIR / CUSTODATA_KEK_FILE quietly putting the KEK back beside the data (point 18)."""
    out = tmp_path / "out"
    monkeypatch.setenv("CUSTODATA_KEY_DIR", str(out / "secrets"))
    assert default_key_file(out) == out / "secrets" / "kek.json"
    with caplog.at_level(logging.WARNING, logger="custodata.crypto.kek"):
        load_provider(out)
    assert any("inside the data folder" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("CUSTODATA_KEY_DIR", str(tmp_path / "vault"))
    assert default_key_file(out) == tmp_path / "vault" / "kek.json"
    assert key_location_warning(out, default_key_file(out)) is None
    monkeypatch.setenv("CUSTODATA_KEK_FILE", str(tmp_path / "elsewhere.json"))
    assert default_key_file(out) == tmp_path / "elsewhere.json"
