"""The ``mdm`` source: customers created in the master at the front desk [柜面建档].

Search before create ends, when nothing matches, in a new customer.  It enters like
any customer does — through a source: a declarative mapping (``intake/mdm.yaml``)
with its marks and lineage, one business record per create in the sub-domain
``master``, party observations, resolution and a golden record — so a full rebuild
gives the same customer, and the view's lineage says "mdm, record MDM-…".

The form is what a front desk types; :func:`check_form` normalises it as the pipeline
would (an invalid ID number is refused before anything is stored) and never repeats a
value in a refusal.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from custodata.errors import CustodataError
from custodata.sources.mapping import SourceMapping, load_mapping

MDM_SYSTEM = "mdm"
KINDS = ("individual", "company")
# form field -> the normaliser's field (as corrections normalise it); uscc checked by its checksum
FORM_FIELDS: tuple[str, ...] = ("name", "id_number", "uscc", "mobile", "phone", "email", "address",
                                "birth_date", "gender")
MAX_VALUE_CHARS = 200


class FormError(ValueError, CustodataError):
    """A create form that cannot become a customer; the message names the field, never its value."""


@cache
def mdm_mapping() -> SourceMapping:
    """The mapping of the ``mdm`` source (validated like every source mapping)."""
    return load_mapping(Path(__file__).parent / "intake" / "mdm.yaml")


def check_form(form: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """``(kind, values)``: the form's kind and its non-empty fields, normalised; or :class:`FormError`.

    An individual needs a name and one of ID number or mobile (what search before create
    searched with); a company needs a name and its USCC.
    """
    from custodata.normalise import normalise_uscc
    from custodata.resolution.steward import CorrectionError, normalise_correction

    if not isinstance(form, dict):
        raise FormError("the create form must be a mapping of fields")
    unknown = sorted(set(form) - {*FORM_FIELDS, "kind"})
    if unknown:
        raise FormError(f"unknown form fields: {', '.join(unknown)}; allowed: kind, {', '.join(FORM_FIELDS)}")
    kind = str(form.get("kind") or "individual")
    if kind not in KINDS:
        raise FormError(f"kind must be {' or '.join(KINDS)}")
    values: dict[str, str] = {}
    for field in FORM_FIELDS:
        raw = form.get(field)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS:
            raise FormError(f"{field} must be text of at most {MAX_VALUE_CHARS} characters")
        if field == "uscc":
            cleaned = normalise_uscc(raw)
            if not cleaned:
                raise FormError("uscc is not a valid unified social credit code (checksum)")
            values[field] = str(cleaned)
            continue
        try:
            values[field] = normalise_correction(field, raw)
        except CorrectionError as exc:
            raise FormError(str(exc)) from None
    if "name" not in values:
        raise FormError("a new customer needs a name")
    if kind == "individual" and not ({"id_number", "mobile"} & set(values)):
        raise FormError("a new individual customer needs an ID number or a mobile")
    if kind == "company" and "uscc" not in values:
        raise FormError("a new company customer needs its unified social credit code (uscc)")
    if kind == "individual" and "uscc" in values:
        raise FormError("an individual has no uscc; choose kind company")
    return kind, values


def record_row(values: dict[str, str], *, record_key: str, branch: str | None,
               created_at: str) -> dict[str, str | None]:
    """The one landing row of a create, in the mapping's columns (all text, like any landing)."""
    row: dict[str, str | None] = dict.fromkeys(mdm_mapping().columns())
    row.update({"mdm_id": record_key, "created_at": created_at, "branch": branch or None, "channel": "柜面建档"})
    row.update({k: v for k, v in values.items() if k in FORM_FIELDS})
    return row


__all__ = ["FORM_FIELDS", "KINDS", "MDM_SYSTEM", "FormError", "check_form", "mdm_mapping", "record_row"]
