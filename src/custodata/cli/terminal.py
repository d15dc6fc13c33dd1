"""The terminal as a client like any other: the stored policy masks, the audit log records.

Whoever runs ``custodata`` on the institution's own machine acts as
``cli:<os login name>`` in role ``cli`` of the policy.  ``show`` and ``match``
read customer data straight from the batch store, so they mask with the policy
version in force in the operational store and append READ / SEARCH events just
as the service does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custodata.audit.events import Action, AuditEvent, Result
from custodata.cli.common import cli_actor
from custodata.masking.policy import MaskingPolicy

ROLE = "cli"


@dataclass
class Terminal:
    masking: MaskingPolicy
    _audit: Any

    def record(self, action: Action, *, customer_ids: Sequence[str] = (), fields: Sequence[str] = (),
               result: Result = Result.OK, detail: dict[str, Any] | None = None) -> None:
        self._audit.append(AuditEvent(actor=cli_actor(), action=action, result=result, role=ROLE,
                                      customer_ids=tuple(customer_ids), fields=tuple(fields), detail=detail or {}))


@contextmanager
def terminal(out: Path) -> Iterator[Terminal]:
    """The policy in force and the audit log of the output folder's operational store."""
    from custodata.access.store import PolicyStore
    from custodata.audit.log import AuditLog
    from custodata.audit.signing import CheckpointSigner
    from custodata.ops.store import open_ops

    ops = open_ops(out_dir=out)
    try:
        audit = AuditLog(ops, CheckpointSigner.for_out_dir(out))
        policies = PolicyStore(ops, audit)
        policies.seed_default(by=cli_actor())
        yield Terminal(policies.current().masking, audit)
    finally:
        ops.close()
