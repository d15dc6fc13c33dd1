"""The scan's configuration: thresholds, column-name hints, institution formats, surnames.

National formats (resident ID, USCC, bank card, mobile) are validated in code;
what differs between institutions — their account and policy number formats,
the names their systems give columns, how strict a scan should be — is YAML
(``recognisers.yaml``), checked at load so that a typo fails with the file,
the key and the allowed values rather than as a silently weaker scan.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from custodata.classification.grading import Grading, load_grading
from custodata.errors import ConfigError
from custodata.yamlconfig import read_yaml, validate

DEFAULT_PATH = Path(__file__).with_name("recognisers.yaml")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScanSettings(_Strict):
    """How much to read and how sure to be; CLI options override these defaults."""

    threshold: float = Field(0.8, gt=0, le=1)
    hint_threshold: float = Field(0.5, gt=0, le=1)
    sample: int = Field(2000, ge=1)
    rows: int = Field(20_000, ge=1)
    free_text_min_share: float = Field(0.01, gt=0, le=1)
    free_text_min_length: float = Field(8, ge=0)
    seed: int = 7


class PatternSpec(_Strict):
    """An institution's identifier format, recognised by a regex over the whole value."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: str
    regex: str
    score: float = Field(0.6, gt=0, le=1)
    requires_hint: bool = False
    explanation: str = ""

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class ClassificationConfig(_Strict):
    scan: ScanSettings = Field(default_factory=lambda: ScanSettings.model_validate({}))
    hints: dict[str, list[str]] = Field(default_factory=dict)
    patterns: list[PatternSpec] = Field(default_factory=list)
    surnames: str = ""
    common_surnames: int = Field(100, ge=1)

    @field_validator("hints")
    @classmethod
    def _hints_compile(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for type_, regexes in value.items():
            for rx in regexes:
                try:
                    re.compile(rx)
                except re.error as exc:
                    raise ValueError(f"{type_}: '{rx}' is not a valid regular expression: {exc}") from None
        return value

    def check_types(self, grading: Grading, path: Path) -> None:
        """Every type named here must be graded, or the scan could not give it a level."""
        known = ", ".join(grading.types)
        for type_ in self.hints:
            if type_ not in grading.types:
                raise ConfigError(f"{path}: hints.{type_}: not a type of the grading table; known: {known}")
        for i, spec in enumerate(self.patterns):
            if spec.type not in grading.types:
                raise ConfigError(f"{path}: patterns.{i}.type: '{spec.type}' is not a type of the grading "
                                  f"table; known: {known}")

    @cached_property
    def _hint_patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((t, re.compile("|".join(f"(?:{rx})" for rx in rxs))) for t, rxs in self.hints.items() if rxs)

    def hinted_types(self, column: str) -> frozenset[str]:
        """Types a column's name suggests (``holderIdNo`` → id_number)."""
        key = column_key(column)
        return frozenset(t for t, rx in self._hint_patterns if rx.search(key))

    @cached_property
    def surname_list(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.surnames.split()))


def column_key(column: str) -> str:
    """``holderIdNo`` / ``TBR_ZJHM`` / ``客户 姓名`` → ``_holder_id_no_`` / ``_tbr_zjhm_`` / ``_客户_姓名_``."""
    return "_" + _NON_WORD.sub("_", _CAMEL.sub("_", column).lower()).strip("_") + "_"


@lru_cache(maxsize=8)
def _load(path: Path) -> ClassificationConfig:
    data = read_yaml(path, "recogniser configuration")
    config = validate(ClassificationConfig, data or {}, str(path))
    config.check_types(load_grading(), path)
    return config


def load_config(path: Path | None = None) -> ClassificationConfig:
    """The scan configuration; ``path`` overrides the shipped defaults."""
    return _load((path or DEFAULT_PATH).resolve())
