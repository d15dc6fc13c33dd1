"""How much memory the batch store's DuckDB may hold, and where it spills the rest.

Left alone, DuckDB takes 80% of the machine and keeps every table it touched cached up to
that: a 1M-record run grew past 20 GB on a 24 GB host.  With a ``memory_limit`` and a
``temp_directory`` the joins, sorts and aggregations of every stage (Splink's included: it
runs on the same connection) page to disk instead of growing.

* The limit is ``CUSTODATA_MEMORY_LIMIT`` (``4GB``, ``1500MB``, ``2GiB`` or a share of the
  machine such as ``25%``), else :data:`DEFAULT_SHARE` of the machine's (or container's)
  memory.  It bounds DuckDB's buffer manager, not the Python process: UDF batches and
  results fetched into Python come on top.
* Spill files go to ``<store file>.spill/<pid>-<random>/`` beside the store (a store's
  spill holds its data, so it stays in the store's private folder, never in a shared
  ``/tmp``).  The ``.spill`` folder is custodata's, 0700; the per-connection folder inside
  is created by DuckDB on the first spill and removed by DuckDB when the connection
  closes.  A process killed before that leaves its folder; the next open of the store
  removes folders of processes that are gone.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from custodata.errors import ConfigError

ENV_MEMORY_LIMIT = "CUSTODATA_MEMORY_LIMIT"
# an eighth of the machine: 3 GB on the 24 GB reference host, under which a 1M-source-record run
# finishes every stage (golden survivorship and the served documents were reshaped to spill; the
# README's *Memory and spill* has the figures).  DuckDB alone would take 80% and keep it cached
DEFAULT_SHARE = 0.125
MIN_LIMIT = 128 * 2**20  # below this DuckDB cannot even pin a join's partitions
SPILL_SUFFIX = ".spill"

_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MemorySettings:
    """What a store connection was given: the limit in bytes and where it spills."""

    limit_bytes: int
    spill_dir: Path

    @property
    def limit(self) -> str:
        """The limit as DuckDB's ``memory_limit`` takes it (whole MiB)."""
        return f"{max(self.limit_bytes // 2**20, 1)}MiB"


def machine_memory() -> int:
    """Bytes of memory this process may use: the host's, or its cgroup's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = limit_file.read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def memory_limit_bytes(value: str | None = None) -> int:
    """The limit in bytes: ``value``, else ``CUSTODATA_MEMORY_LIMIT``, else a share of the machine.

    A wrong value is a :class:`ConfigError` naming the setting and the forms it takes,
    not DuckDB's parse error at the first query.
    """
    raw = value if value is not None else os.environ.get(ENV_MEMORY_LIMIT, "").strip() or None
    if raw is None:
        return max(int(machine_memory() * DEFAULT_SHARE), MIN_LIMIT)
    match = _SIZE.match(raw)
    if not match:
        raise ConfigError(f"{ENV_MEMORY_LIMIT}={raw!r}: give a size such as 4GB, 1500MB, 2GiB, or a share "
                          "of the machine's memory such as 25%")
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    if unit == "%":
        if not 0 < number <= 100:
            raise ConfigError(f"{ENV_MEMORY_LIMIT}={raw!r}: a share must be above 0% and at most 100%")
        size = int(machine_memory() * number / 100)
    else:
        size = int(number * _UNITS[unit])
    if size < MIN_LIMIT:
        raise ConfigError(f"{ENV_MEMORY_LIMIT}={raw!r}: at least {MIN_LIMIT // 2**20}MiB; DuckDB cannot run the "
                          "pipeline's joins in less")
    return size


def spill_root(store_path: Path | None) -> Path:
    """The store's spill folder (``<store file>.spill``); an in-memory store's under the system temp folder."""
    if store_path is None:
        return Path(tempfile.gettempdir()) / f"custodata-{os.getuid()}{SPILL_SUFFIX}"
    return store_path.with_name(store_path.name + SPILL_SUFFIX)


def remove_stale_spills(root: Path) -> list[Path]:
    """Remove the spill folders of processes that are gone (killed before DuckDB could clean up)."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if not folder.is_dir() or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    return True


def connection_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The ``memory_limit`` ``con`` runs under, in bytes (what a stage sizes its chunks by)."""
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    match = _SIZE.match(str(row[0]) if row else "")
    if not match or match.group(2) == "%":
        return memory_limit_bytes()
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


def configure(con: duckdb.DuckDBPyConnection, store_path: Path | None, *, limit: str | None = None) -> MemorySettings:
    """Give ``con`` its memory limit and a private spill folder; returns what it got.

    A second connection of the same process to the same store shares the first one's
    database (DuckDB caches instances by file), so it keeps the spill folder already in use.
    """
    from custodata.private_files import private_dir

    size = memory_limit_bytes(limit)
    root = private_dir(spill_root(store_path))
    remove_stale_spills(root)
    settings = MemorySettings(size, root / f"{os.getpid()}-{secrets.token_hex(4)}")
    con.execute(f"SET memory_limit = '{settings.limit}'")
    current = con.execute("SELECT current_setting('temp_directory')").fetchone()
    in_use = Path(str(current[0])) if current and current[0] else None
    if in_use is not None and in_use.parent == root:
        return MemorySettings(size, in_use)
    quoted = str(settings.spill_dir).replace("'", "''")
    con.execute(f"SET temp_directory = '{quoted}'")
    return settings
