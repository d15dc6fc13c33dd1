"""Masking [脱敏]: what a value may look like when shown to a person.

``operators`` holds the ways of hiding a value (keep first/last, generalise,
hash, tokenise, free-text redaction ...) behind one small interface and a
by-name registry; ``policy`` decides, from YAML, which operator applies to
which field for which role and purpose of use.  ``display`` keeps the fixed
financial display defaults for views that need no policy.
"""

from custodata.masking.display import mask_address, mask_email, mask_id, mask_keep, mask_mobile, mask_name
from custodata.masking.operators import (
    MaskingContext,
    Operator,
    OperatorParams,
    ParamsError,
    get_operator,
    operator_names,
    register,
)
from custodata.masking.policy import Decision, MaskingPolicy, PolicyConfig, RuleConfig, load_policy, parse_policy

__all__ = [
    "Decision",
    "MaskingContext",
    "MaskingPolicy",
    "Operator",
    "OperatorParams",
    "ParamsError",
    "PolicyConfig",
    "RuleConfig",
    "get_operator",
    "load_policy",
    "mask_address",
    "mask_email",
    "mask_id",
    "mask_keep",
    "mask_mobile",
    "mask_name",
    "operator_names",
    "parse_policy",
    "register",
]
