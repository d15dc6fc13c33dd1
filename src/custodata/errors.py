"""One root exception for everything custodata raises on purpose.

Subclasses also inherit the matching builtin so callers that already catch
``ValueError`` or ``FileNotFoundError`` keep working; the CLI turns any
``CustodataError`` into one clean line instead of a traceback.
"""

from __future__ import annotations


class CustodataError(Exception):
    """Base of every error custodata raises deliberately."""


class MappingError(ValueError, CustodataError):
    """A source mapping YAML is wrong: the message names the file, the key and the fix."""


class ConfigError(ValueError, CustodataError):
    """A configuration file (survivorship, tags, settings) is wrong."""


class SourceError(CustodataError):
    """A source system's data cannot be read at all (missing file, unreachable table)."""


class PipelineError(CustodataError):
    """A pipeline step failed; the message names the step, the output table and the SQL."""


class EngineError(PipelineError):
    """The batch engine refused a statement: its first line, the SQL only at debug level."""


class StoreLockedError(EngineError):
    """Another process (a pipeline run, the job worker, a backup) holds the batch store's file."""


class NotFoundError(LookupError, CustodataError):
    """A customer, record or batch asked for does not exist."""


class StateError(CustodataError):
    """An operation is not possible in the current state (e.g. resolve before ingest)."""


class CryptoError(CustodataError):
    """A value cannot be decrypted: wrong record, tampered ciphertext, missing key."""


class KeyDestroyedError(CryptoError):
    """The data key was destroyed (the customer was erased): the value is gone for good."""
