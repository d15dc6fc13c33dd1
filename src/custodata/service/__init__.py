"""The service layer: the one path from a person to customer data.

Every entry point (API, console, CLI commands acting for a person) calls these
functions; each one authenticates nothing itself but takes a :class:`Caller`
already authenticated, asks the access engine, masks through the masking
policy and appends the audit event — allowed or denied.  Nothing above this
layer touches the operational store's customer data directly, so no path can
skip a check.
"""

from custodata.service.context import AccessDenied, Caller, Services

__all__ = ["AccessDenied", "Caller", "Services"]
