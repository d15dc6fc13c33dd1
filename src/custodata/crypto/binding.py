"""What a ciphertext is bound to: the associated data that makes a value decrypt only where it belongs.

AES-GCM authenticates the associated data with the value, so a protected value copied to
another row, column or batch fails to decrypt instead of showing someone else's data.
The pipeline's SQL builds the same strings (``owner || '|field'``); these functions are
the Python side of that one convention.
"""

from __future__ import annotations


def field_aad(owner: str, field: str) -> str:
    """Associated data of a protected field: its owner (``source:record_key``, an observation id,
    a customer id) and the field, so a ciphertext moved to another row or column does not decrypt.
    The pipeline SQL builds the same string as ``owner || '|field'``."""
    return f"{owner}|{field}"


def quarantine_aad(batch_id: str, row_no: int | None) -> str:
    """Associated data binding a quarantined raw row to its batch and row number."""
    return f"{batch_id}:{row_no}|raw"
