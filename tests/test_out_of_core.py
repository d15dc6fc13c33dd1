"""DuckDB out of core (issue 12 point 3): a run under a small memory limit spills and ends as an unbounded one.

The batch store gets a ``memory_limit`` (``CUSTODATA_MEMORY_LIMIT``) and spills the rest
into ``<store file>.spill`` beside the store.  The limit here is well under what the
pipeline holds on this data: the run must write spill files to finish (it did not fit),
and the store it leaves must equal the store of a run without the limit.  The spill
files hold the run's data, plaintext of landing rows included, so they must stay in the
store's private folder and be gone when the run is.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from custodata.demo.sources import generate
from custodata.engine.memory import (
    DEFAULT_SHARE,
    ENV_MEMORY_LIMIT,
    MIN_LIMIT,
    machine_memory,
    memory_limit_bytes,
    remove_stale_spills,
    spill_root,
)
from custodata.engine.store import open_store
from custodata.errors import ConfigError
from custodata.pipeline import Pipeline
from custodata.resolution.golden import PROTECTED
from tests.helpers import state_digest

CUSTOMERS = 1500  # ~3,700 source records: the whole pipeline holds more than SMALL_LIMIT of them
SMALL_LIMIT = "256MiB"
PUBLISHED = ("golden", "xref", "relationships", "customer_view")


@dataclass
class SpillWatch:
    """What a thread saw in a store's spill folder while a run went: bytes, folders and modes."""

    root: Path
    peak_bytes: int = 0
    root_modes: set[int] = field(default_factory=set)
    seen: set[Path] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _look(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                self.root_modes.add(stat.S_IMODE(self.root.stat().st_mode))
                for folder in self.root.iterdir():
                    self.seen.add(folder)
                    for f in folder.iterdir():
                        self.seen.add(f)
                        total += f.stat().st_size
            except OSError:  # a file DuckDB removed between the listing and the stat
                pass
            self.peak_bytes = max(self.peak_bytes, total)
            time.sleep(0.005)

    def __enter__(self) -> SpillWatch:
        self._thread = threading.Thread(target=self._look, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ooc") / "raw"
    generate(CUSTOMERS, 11, folder)
    return folder


def _run(raw: Path, out: Path) -> Path:
    Pipeline.create(out).run(raw)
    return out


@pytest.fixture(scope="module")
def unbounded(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A run with the default limit (a share of the machine), far above what this data needs."""
    previous = os.environ.pop(ENV_MEMORY_LIMIT, None)
    try:
        yield _run(raw, tmp_path_factory.mktemp("unbounded") / "out")
    finally:
        if previous is not None:
            os.environ[ENV_MEMORY_LIMIT] = previous


def _published(out: Path, name: str) -> list[tuple[object, ...]]:
    """A published file's rows, but for what differs by design between two runs.

    Ciphertexts (each encryption draws a fresh nonce; :func:`state_digest` compares them
    decrypted), run ids and times.
    """
    path = out / "published" / f"{name}.parquet"
    columns = [f'"{c}"' for c, kind, *_ in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
               if c not in PROTECTED and "run" not in c and not kind.startswith("TIMESTAMP")]
    return duckdb.sql(f"SELECT {', '.join(columns)} FROM read_parquet('{path}') ORDER BY ALL").fetchall()


def test_a_small_limit_spills_and_ends_as_without(
    raw: Path, unbounded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_MEMORY_LIMIT, SMALL_LIMIT)
    out = tmp_path / "out"
    root = spill_root(out / "custodata.duckdb")
    with SpillWatch(root) as watch:
        _run(raw, out)
    assert watch.peak_bytes > 0, "the run never spilled: the limit did not bind, so nothing out of core was tested"
    assert state_digest(out / "custodata.duckdb") == state_digest(unbounded / "custodata.duckdb")
    for name in PUBLISHED:
        assert _published(out, name) == _published(unbounded, name), name
    # the spill stays in the store's private folder, and nothing of it outlives the run
    assert root.parent == out and root.is_dir()
    assert watch.root_modes == {0o700}
    assert all(p.is_relative_to(root) for p in watch.seen) and watch.seen
    assert list(root.iterdir()) == []


def test_the_store_connection_gets_the_configured_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MEMORY_LIMIT, "300MiB")
    store = open_store(tmp_path / "data" / "custodata.duckdb")
    try:
        limit, spill = store.con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone() or ("", "")
    finally:
        store.close()
    assert limit == "300.0 MiB"
    assert Path(spill).parent == tmp_path / "data" / "custodata.duckdb.spill"


def test_the_default_is_a_share_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MEMORY_LIMIT, raising=False)
    assert memory_limit_bytes() == max(int(machine_memory() * DEFAULT_SHARE), MIN_LIMIT)
    monkeypatch.setenv(ENV_MEMORY_LIMIT, "50%")
    assert memory_limit_bytes() == int(machine_memory() * 0.5)


@pytest.mark.parametrize(("value", "size"), [("4GB", 4 * 10**9), ("1500MB", 1500 * 10**6), ("2GiB", 2 * 2**30),
                                             ("0.5 gib", 2**29), ("512MiB", 512 * 2**20)])
def test_sizes(value: str, size: int) -> None:
    assert memory_limit_bytes(value) == size


@pytest.mark.parametrize("value", ["lots", "4 GBs", "-1GB", "0%", "150%", "100MB", "4096", "1e9"])
def test_wrong_limits_are_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match=ENV_MEMORY_LIMIT):
        memory_limit_bytes(value)


def test_a_killed_process_spill_is_removed_at_the_next_open(tmp_path: Path) -> None:
    root = spill_root(tmp_path / "custodata.duckdb")
    root.mkdir(mode=0o700)
    gone, live = root / "999999999-dead", root / f"{os.getpid()}-live"
    for folder in (gone, live):
        folder.mkdir()
        (folder / "duckdb_temp_storage-0.tmp").write_bytes(b"x")
    assert remove_stale_spills(root) == [gone]
    assert not gone.exists() and live.exists()
