"""Owner-only modes for everything custodata writes: folders 0700, files 0600.

A batch store, a published Parquet file or a raw export readable by every account on
the host is a copy of the customer data for anyone who logs in there. Two layers:

* :func:`restrict_umask` at process start of the CLI (and so of the server it
  starts), so any file a library creates for us is born owner-only;
* explicit modes where custodata creates its folders and files, because the
  pipeline is also used as a library by processes with a looser umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_umask() -> int:
    """Make every file and folder this process creates owner-only; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents 0700; an existing ``path`` loses group and other access.

    The folder is custodata's own (a data, published, raw or key folder): a 0700
    folder keeps out others even from files that a library created 0644 inside it.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):  # parents we create are ours too: 0700 as well
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & ~0o077 | 0o700)
    return path


def private_file(path: Path) -> Path:
    """Drop group and other access from a file custodata (or a library for it) just wrote."""
    if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, FILE_MODE)
    return path


def private_tree(path: Path) -> None:
    """Folders 0700 and files 0600 throughout ``path`` (generated exports written by several libraries)."""
    private_dir(path)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            private_dir(Path(root) / name)
        for name in files:
            private_file(Path(root) / name)
