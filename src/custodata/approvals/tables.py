"""Tables of approvals (filled in by its module; registered on the shared operational metadata)."""

from custodata.ops.metadata import metadata

__all__ = ["metadata"]
