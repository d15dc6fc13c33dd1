"""The terminal as a caller of the service layer: ``cli:<os login name>`` acting in role ``cli``.

Whoever runs ``custodata`` on the institution's own machine is a client like the API
and the console.  The commands that show customer data (``show``, ``match``, the
demo's example view) call :mod:`custodata.service.customers` with the caller made
here, so they read the served view in the operational store (never the batch store),
are masked by the policy version in force, and are decided and audited by the one
service path: permission → purpose → row rule → masking → audit event, a refusal
audited as denied.

The machine's own account control authenticates the operator; what role ``cli`` may
do is whatever the policy in force says (the shipped one: search, read and lineage
over all rows, no unmask rule — so a search by ID number or mobile, which is a use
of that identifier, is refused to the terminal like to anyone without the rule).
"""

from __future__ import annotations

import datetime as dt

from custodata.errors import ConfigError
from custodata.identity.directory import Principal
from custodata.service.context import Caller, utcnow

ROLE = "cli"
ACTOR_PREFIX = "cli:"
# one command's run: nothing checks it, but a principal carries when its authentication ends
COMMAND_SESSION = dt.timedelta(hours=1)


def terminal_caller(actor: str, *, now: dt.datetime | None = None) -> Caller:
    """The operator at the terminal as a service caller: ``actor`` (``cli:<login>``) in role ``cli``.

    An employee of no branch: role ``cli``'s row rule in the shipped policy is ``all``;
    a policy that narrows it to ``branch`` or ``portfolio`` therefore reaches no customer
    from the terminal (fails closed) rather than some branch's by accident.
    """
    if not actor.startswith(ACTOR_PREFIX) or len(actor) == len(ACTOR_PREFIX):
        raise ConfigError(f"a terminal caller is {ACTOR_PREFIX}<login>, not {actor!r}")
    principal = Principal(
        person_id=actor, display_name=actor, kind="employee", branch="", role=ROLE, roles=frozenset({ROLE}),
        status="active", session_expires_at=(now or utcnow()) + COMMAND_SESSION,
    )
    return Caller(principal)
