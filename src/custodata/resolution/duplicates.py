"""Search before create: the existing customers a new customer's form is likely a duplicate of.

The form is scored exactly as a new source record would be: normalised by the
pipeline's SQL functions, blocked and compared by the trained Splink model against
every person record its blocking rules reach (:func:`custodata.resolution.search.match`),
read-only on the batch store.  A candidate is a duplicate when its best record's
*evidence* — match weight minus the model's prior, in bits, the measure the link and
split thresholds use — reaches ``duplicate_evidence_bits``.  A company is a duplicate of
the customer holding the same unified social credit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from custodata.engine.port import BatchEngine
from custodata.errors import StateError

if TYPE_CHECKING:  # the service imports DuplicateFound; only the worker scores

    from custodata.resolution.config import ResolutionConfig


@dataclass(frozen=True)
class Duplicate:
    """An existing customer above the threshold: its id, the evidence and which fields agreed (names only)."""

    customer_id: str
    evidence_bits: float
    agreeing: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"customer_id": self.customer_id, "evidence_bits": self.evidence_bits, "agreeing": list(self.agreeing)}


class DuplicateFound(StateError):
    """Search before create: existing customers score above the duplicate threshold (ids and evidence only)."""

    def __init__(self, candidates: list[Duplicate]) -> None:
        super().__init__(f"{len(candidates)} existing customer(s) score above the duplicate threshold: "
                         + ", ".join(c.customer_id for c in candidates))
        self.candidates = candidates


def find_duplicates(db: BatchEngine, config: ResolutionConfig, kind: str,
                    values: dict[str, str], *, top: int = 5) -> list[Duplicate]:
    """The customers ``values`` (a checked create form) probably already is, best first."""
    from custodata.resolution import person
    from custodata.resolution.search import match

    if kind == "company":
        rows = db.rows(
            "SELECT DISTINCT x.customer_id FROM customer.party p JOIN customer.xref x USING (obs_id) "
            "WHERE p.kind = 'corporate' AND p.uscc = ? ORDER BY 1 LIMIT ?", [values["uscc"], top])
        return [Duplicate(str(r[0]), float("inf"), ("uscc",)) for r in rows]
    model = person.load_model(db)
    if model is None:
        return []  # nothing resolved yet: there is no one to be a duplicate of
    prior = person.prior_bits(model)
    found = match(db, name=values.get("name"), id_number=values.get("id_number"), mobile=values.get("mobile"),
                  birth_date=values.get("birth_date"), email=values.get("email"), address=values.get("address"),
                  gender=values.get("gender"), phone=values.get("phone"), top=top)
    out = []
    for c in found:
        evidence = round(c.match_weight - prior, 2)
        if evidence >= config.duplicate_evidence_bits:
            out.append(Duplicate(c.customer_id, evidence,
                                 tuple(e.field for e in c.evidence if e.match_weight > 0)))
    return out


__all__ = ["Duplicate", "DuplicateFound", "find_duplicates"]
