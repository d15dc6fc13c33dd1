"""The server secret that keys export watermarks.

``CUSTODATA_WATERMARK_SECRET`` when set (a deployment's own secret, at least 16
characters); otherwise derived from the institution's key provider, so producing
and reading marks agree without another secret to keep.  The derivation is one
way: the secret reveals nothing of the token key it comes from.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from custodata.errors import ConfigError

SECRET_ENV = "CUSTODATA_WATERMARK_SECRET"  # noqa: S105 - the variable's name, not a secret


def watermark_secret(out_dir: Path) -> bytes:
    configured = os.environ.get(SECRET_ENV)
    if configured is not None:
        if len(configured) < 16:
            raise ConfigError(f"{SECRET_ENV} must be at least 16 characters")
        return configured.encode("utf-8")
    from custodata.crypto.kek import load_provider

    key = load_provider(out_dir, create=False).token_key()
    return hmac.new(key, b"custodata export watermark v1", hashlib.sha256).digest()
