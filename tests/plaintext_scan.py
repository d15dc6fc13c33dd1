"""Find plaintext identifiers in a file's raw bytes, in every form the source systems write them.

A search for the canonical ``13812345678`` misses ``+86 138 1234 5678``, ``138-1234-5678``
and ``１３８１２３４５６７８`` — the forms the generator's exports (and real ones) use, and so
the forms a landing table or a freed block of the store would hold. Every run of digits
(ASCII, or full-width in UTF-8 or GBK, with single spaces, dashes or ideographic spaces
between them, an ID's final X in either width) is normalised and searched for each secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_DIGIT = rb"(?:[0-9]|\xef\xbc[\x90-\x99]|\xa3[\xb0-\xb9])"  # ASCII | full-width UTF-8 | full-width GBK
_SEP = rb"(?:[ \-]|\xe3\x80\x80|\xa1\xa1)?"  # space, dash, ideographic space (UTF-8, GBK)
_X = rb"(?:[Xx]|\xef\xbc\xb8|\xef\xbd\x98|\xa3\xd8|\xa3\xf8)?"
_RUN = re.compile(_DIGIT + rb"(?:" + _SEP + _DIGIT + rb"){10,}" + _X)
_TO_ASCII = [(bytes([0xEF, 0xBC, 0x90 + i]), str(i).encode()) for i in range(10)] + \
            [(bytes([0xA3, 0xB0 + i]), str(i).encode()) for i in range(10)] + \
            [(b"\xef\xbc\xb8", b"X"), (b"\xef\xbd\x98", b"X"), (b"\xa3\xd8", b"X"), (b"\xa3\xf8", b"X")]
_SEPARATORS = re.compile(rb"[ \-]|\xe3\x80\x80|\xa1\xa1")


def raw_forms(values: Iterable[str]) -> set[str]:
    """The canonical values plus the old 15-digit form of each 18-digit ID (pre-1999 cards)."""
    out = {v.upper() for v in values if v}
    out |= {v[:6] + v[8:17] for v in out if len(v) == 18 and v[:17].isdigit()}
    return out


def _normalise(run: bytes) -> str:
    for wide, ascii_ in _TO_ASCII:
        run = run.replace(wide, ascii_)
    return _SEPARATORS.sub(b"", run).decode("ascii").upper()


def find_plaintexts(data: bytes, secrets: set[str]) -> set[str]:
    """The secrets found in ``data`` in any raw form (a ``+86`` prefix is a digit run containing the mobile)."""
    lengths = sorted({len(s) for s in secrets})
    found: set[str] = set()
    for match in _RUN.finditer(data):
        run = _normalise(match.group(0))
        for n in lengths:
            found.update(run[i:i + n] for i in range(len(run) - n + 1) if run[i:i + n] in secrets)
    return found


def scan_files(paths: Iterable[Path], secrets: set[str]) -> dict[str, set[str]]:
    """File -> the secrets its bytes hold, for every file that holds any."""
    hits = {}
    for path in paths:
        found = find_plaintexts(path.read_bytes(), secrets)
        if found:
            hits[str(path)] = found
    return hits
