"""Grading of sensitive data types: JR/T 0171 category and JR/T 0197 level, as configuration.

The table lives in YAML (``grading.yaml``) so an institution can grade its
own way; everything that protects data (encryption, tokens, masking, the
scan's levels) asks this one object, so the rules cannot drift apart.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from custodata.errors import ConfigError
from custodata.yamlconfig import load_yaml_model

Category = Literal["C1", "C2", "C3"]
DEFAULT_PATH = Path(__file__).with_name("grading.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TypeGrade(_Strict):
    """How sensitive one type of data is."""

    label: str
    category: Category
    level: int = Field(ge=1, le=5)
    token: bool = Field(False, description="keep a keyed deterministic token for exact-match joins")


class Grading(_Strict):
    encrypt_at_level: int = Field(4, ge=1, le=6)
    types: dict[str, TypeGrade]
    fields: dict[str, str] = Field(default_factory=dict, description="canonical field -> type")

    @model_validator(mode="after")
    def _fields_name_known_types(self) -> Grading:
        for field, type_ in self.fields.items():
            if type_ not in self.types:
                raise ValueError(f"fields.{field}: '{type_}' is not one of the types: {', '.join(self.types)}")
        return self

    def grade(self, type_: str) -> TypeGrade:
        try:
            return self.types[type_]
        except KeyError:
            raise ConfigError(f"unknown sensitive type '{type_}'; known: {', '.join(self.types)}") from None

    def field_type(self, field: str) -> str | None:
        return self.fields.get(field)

    def encrypted(self, type_: str) -> bool:
        """C3, or at least the encryption level: stored encrypted after landing."""
        g = self.grade(type_)
        return g.category == "C3" or g.level >= self.encrypt_at_level

    def field_encrypted(self, field: str) -> bool:
        type_ = self.field_type(field)
        return type_ is not None and self.encrypted(type_)

    def field_tokenised(self, field: str) -> bool:
        type_ = self.field_type(field)
        return type_ is not None and self.grade(type_).token

    def field_level(self, field: str) -> int:
        """Level of a canonical field; fields not in the table are internal (level 1)."""
        type_ = self.field_type(field)
        return self.grade(type_).level if type_ else 1

    def encrypted_fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if self.field_encrypted(f))


@lru_cache(maxsize=8)
def _load(path: Path) -> Grading:
    return load_yaml_model(Grading, path, "grading file")


def load_grading(path: Path | None = None) -> Grading:
    """The grading table; ``path`` overrides the shipped defaults."""
    return _load((path or DEFAULT_PATH).resolve())
