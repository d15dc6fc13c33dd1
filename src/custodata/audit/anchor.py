"""Trust that does not live in the database: the auditors' pinned public key and the checkpoint anchor file.

Whoever holds the database and the data folder can rewrite the chain, and with
the signing key beside it (``out/keys``) re-sign it, or swap in a key of their
own.  Two things outside their reach close that:

* the **trust anchor** — the public key handed to auditors, its SHA-256
  fingerprint pinned in configuration (``CUSTODATA_AUDIT_ANCHOR`` and
  ``CUSTODATA_AUDIT_ANCHOR_FINGERPRINT``, or ``trust_anchor:`` in ``audit.yaml``).
  Checkpoints and purges must verify under it; a swapped key or key file is
  refused because its fingerprint differs from the pinned one;
* the **checkpoint anchor file** — every checkpoint is also appended, as one JSON
  line ``{seq, hash, at, key_id, signature}``, to a file on another path
  (``CUSTODATA_AUDIT_ANCHOR_FILE`` or ``anchor_file:``; by default
  ``<out>-audit-anchor-<store>.jsonl`` beside the data folder, not in it — put it
  on append-only or remote storage).  Verify compares the chain with every line, so
  a rewritten or truncated stretch that the database's own checkpoints no longer
  show is still caught.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custodata.errors import ConfigError

ANCHOR_ENV = "CUSTODATA_AUDIT_ANCHOR"
FINGERPRINT_ENV = "CUSTODATA_AUDIT_ANCHOR_FINGERPRINT"
ANCHOR_FILE_ENV = "CUSTODATA_AUDIT_ANCHOR_FILE"

NO_ANCHOR_WARNING = (
    "NO TRUST ANCHOR: signatures were checked against the signing key beside the log, which whoever "
    "rewrites the log can replace or use to re-sign it; pin the auditors' public key "
    f"({ANCHOR_ENV}=<public key PEM> and {FINGERPRINT_ENV}=<sha256 fingerprint>)")
NO_ANCHOR_FILE_WARNING = (
    "NO CHECKPOINT ANCHOR FILE: checkpoints were compared only with copies stored in the same database; "
    f"set {ANCHOR_FILE_ENV} (or anchor_file in audit.yaml) to a file outside the data folder")


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, 64 hex digits (what configuration pins)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _normal_fingerprint(text: str) -> str:
    value = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value):
        raise ConfigError(f"the pinned audit trust-anchor fingerprint must be 64 hex digits "
                          f"(custodata audit anchor prints it), not {text.strip()[:80]!r}")
    return value


def inside(path: Path, folder: Path | None) -> bool:
    """Whether ``path`` lies in ``folder`` (resolved; False without a folder)."""
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class TrustAnchor:
    """The auditors' public key, checked against its pinned fingerprint."""

    public_key: Ed25519PublicKey
    fingerprint: str
    source: str                      # where the key came from, for the report
    pinned: bool = True              # False: a key given on the command line without a fingerprint
    warnings: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path, pinned_fingerprint: str | None, *, data_dir: Path | None = None) -> TrustAnchor:
        """Read the key and refuse it when its fingerprint is not the pinned one (the file was replaced)."""
        from custodata.audit.signing import load_public_key

        key = load_public_key(path)
        actual = fingerprint(key)
        warnings: list[str] = []
        if pinned_fingerprint is not None:
            pinned = _normal_fingerprint(pinned_fingerprint)
            if actual != pinned:
                raise ConfigError(f"{path}: the audit trust anchor's fingerprint {actual} is not the pinned "
                                  f"{pinned}: the key file was replaced; get the auditors' copy")
        else:
            warnings.append(f"the trust anchor {path} has no pinned fingerprint ({FINGERPRINT_ENV}); compare "
                            f"{actual} with the one given to the auditors")
        if inside(path, data_dir):
            warnings.append(f"the trust anchor {path} lives inside the data folder {data_dir}: whoever holds the "
                            "data can replace it; keep the auditors' copy elsewhere")
        return cls(key, actual, str(path), pinned_fingerprint is not None, tuple(warnings))


def configured_anchor(path: Path | None, pinned_fingerprint: str | None, *,
                      data_dir: Path | None = None) -> TrustAnchor | None:
    """The anchor from arguments, else the environment, else None (verify then warns)."""
    chosen = path or (Path(os.environ[ANCHOR_ENV]) if os.environ.get(ANCHOR_ENV) else None)
    pin = pinned_fingerprint or os.environ.get(FINGERPRINT_ENV) or None
    if chosen is None:
        if pin is not None:
            raise ConfigError(f"a trust-anchor fingerprint is pinned but no public key is given: set {ANCHOR_ENV}")
        return None
    return TrustAnchor.load(chosen, pin, data_dir=data_dir)


# ---- the checkpoint anchor file ---------------------------------------------------------------


@dataclass(frozen=True)
class AnchorRecord:
    seq: int
    hash: str
    at: dt.datetime
    key_id: str
    signature: str
    line: int


class AnchorFileError(ConfigError):
    """The checkpoint anchor file cannot be written."""


class AnchorFile:
    """Append-only JSON lines of every checkpoint, outside the store; created 0600, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, checkpoints: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps({"seq": int(c["seq"]), "hash": c["hash"], "at": c["at"].isoformat(),
                                    "key_id": c["key_id"], "signature": c["signature"]},
                                   separators=(",", ":")) + "\n" for c in checkpoints)
        if not lines:
            return
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, lines.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise AnchorFileError(f"{self.path}: cannot append to the audit checkpoint anchor file "
                                      f"({exc.strerror})") from None

    def records(self) -> Iterator[AnchorRecord | str]:
        """Each line as a record, or a message naming a line that is not one (tampered or torn)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            yield f"checkpoint anchor file {self.path}: unreadable ({exc})"
            return
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                yield AnchorRecord(int(data["seq"]), str(data["hash"]), dt.datetime.fromisoformat(data["at"]),
                                   str(data["key_id"]), str(data["signature"]), n)
            except (ValueError, KeyError, TypeError):
                yield f"checkpoint anchor file {self.path}: line {n} is not a checkpoint record (edited)"


def default_anchor_file(out_dir: Path, store_url: str) -> Path:
    """``CUSTODATA_AUDIT_ANCHOR_FILE``, else ``<out>-audit-anchor-<store>.jsonl`` next to (not in) the data folder.

    ``<store>`` is a short hash of the store's URL (password left out), so two stores
    used with one output folder (SQLite and PostgreSQL, say) never share an anchor file.
    """
    if os.environ.get(ANCHOR_FILE_ENV):
        return Path(os.environ[ANCHOR_FILE_ENV])
    from sqlalchemy.engine import make_url

    try:
        shown = make_url(store_url).set(password=None).render_as_string(hide_password=False)
    except Exception:  # an unparsable URL is refused when the store opens; any stable text will do here
        shown = store_url
    resolved = out_dir.resolve()
    store = hashlib.sha256(shown.encode("utf-8")).hexdigest()[:12]
    return resolved.parent / f"{resolved.name}-audit-anchor-{store}.jsonl"


__all__ = ["ANCHOR_ENV", "ANCHOR_FILE_ENV", "FINGERPRINT_ENV", "NO_ANCHOR_FILE_WARNING", "NO_ANCHOR_WARNING",
           "AnchorFile", "AnchorFileError", "AnchorRecord", "TrustAnchor", "configured_anchor",
           "default_anchor_file", "fingerprint", "inside"]
