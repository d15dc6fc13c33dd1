"""Resolution settings: thresholds, guards and survivorship rules, as validated YAML."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from custodata.errors import ConfigError

Criterion = Literal["trust", "recency", "completeness", "han"]
GOLDEN_FIELDS = (
    "name", "name_pinyin", "gender", "birth_date", "id_number", "uscc", "mobile", "phone",
    "email", "address", "province", "city", "district",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Survivorship(_Strict):
    default: list[Criterion] = ["trust", "recency", "completeness"]
    fields: dict[str, list[Criterion]] = Field(default_factory=dict)

    def for_field(self, field: str) -> list[Criterion]:
        return self.fields.get(field, self.default)


class CustomerTypes(_Strict):
    high_net_worth_balance: float = 1_000_000
    sme_max_balance: float = 5_000_000


class ResolutionConfig(_Strict):
    link_evidence_bits: float = Field(14.5, gt=0)
    chain_floor_bits: float = Field(-5.0)
    split_evidence_bits: float = Field(22.4, gt=0)
    duplicate_evidence_bits: float = Field(12.0, gt=0)
    max_cluster_records: int = Field(60, ge=2)
    max_names_per_value: int = Field(6, ge=2)
    seed: int = 42
    u_sampling_pairs: int = Field(2_000_000, ge=10_000)
    survivorship: Survivorship = Survivorship()
    customer_types: CustomerTypes = CustomerTypes()


def load_config(path: Path | None = None) -> ResolutionConfig:
    """Load resolution settings; the shipped defaults when ``path`` is None."""
    if path is None:
        return _default()
    return _load(path)


@lru_cache(maxsize=1)
def _default() -> ResolutionConfig:
    return _load(Path(__file__).parent / "resolution.yaml")


def _load(path: Path) -> ResolutionConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read resolution settings: {exc}") from None
    try:
        cfg = ResolutionConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{path}: key '{'.'.join(str(p) for p in e['loc'])}': {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None
    unknown = set(cfg.survivorship.fields) - set(GOLDEN_FIELDS)
    if unknown:
        raise ConfigError(
            f"{path}: key 'survivorship.fields': unknown field(s) {sorted(unknown)}; "
            f"allowed: {', '.join(GOLDEN_FIELDS)}"
        )
    return cfg
