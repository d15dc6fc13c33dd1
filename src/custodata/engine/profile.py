"""An opt-in statement profile of the batch engine: where a run's seconds go, statement by statement.

Set ``CUSTODATA_ENGINE_PROFILE=PATH`` and every statement the DuckDB engine runs is counted
and timed under a key made of the calling stage (the first frame outside ``custodata.engine``:
``module:function:line``) and the statement's first 60 characters **after** its quoted strings
and numbers are blanked out — the SQL text may carry literals (an id, a name), and a profile
is for engineers, not for customer data; parameters are never looked at. At the process's
exit (and on :func:`dump`) ``PATH`` gets one tab-separated line per key, slowest first:
``seconds  count  caller  statement``. Unset (the default), :func:`record` returns at once.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
from pathlib import Path

ENV = "CUSTODATA_ENGINE_PROFILE"
PREFIX = 60
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")

_path = os.environ.get(ENV) or None
_lock = threading.Lock()
_totals: dict[tuple[str, str], list[float]] = {}


def shape(sql: str) -> str:
    """The statement's first characters with every quoted string and number blanked out."""
    text = _QUOTED.sub("'?'", sql)
    text = _NUMBER.sub("0", text)
    return _SPACE.sub(" ", text).strip()[:PREFIX]


def _caller() -> str:
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("custodata.engine"):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "?"
    module = str(frame.f_globals.get("__name__", "?")).removeprefix("custodata.")
    return f"{module}:{frame.f_code.co_name}:{frame.f_lineno}"


def record(sql: str, seconds: float) -> None:
    """Count one statement's time (a no-op unless the profile is on)."""
    if _path is None:
        return
    key = (_caller(), shape(sql))
    with _lock:
        entry = _totals.setdefault(key, [0.0, 0.0])
        entry[0] += seconds
        entry[1] += 1


def dump() -> None:
    """Write the profile to its file, slowest first (a no-op unless the profile is on)."""
    if _path is None:
        return
    with _lock:
        lines = sorted(_totals.items(), key=lambda kv: -kv[1][0])
        total = sum(v[0] for _, v in lines)
        count = sum(int(v[1]) for _, v in lines)
    body = [f"{total:.3f}\t{count}\t(all)\t(all statements)"]
    body += [f"{s:.3f}\t{int(n)}\t{caller}\t{text}" for (caller, text), (s, n) in lines]
    Path(_path).write_text("\n".join(body) + "\n", encoding="utf-8")


def reset() -> None:
    """Forget what was counted (a benchmark's warm-up)."""
    with _lock:
        _totals.clear()


if _path is not None:
    atexit.register(dump)
