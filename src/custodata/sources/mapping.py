"""Declarative source mappings: one YAML file per source system.

A mapping says where a system's export lives, what business type it carries,
which of its columns mean which canonical field, which parties a record
names, and which columns are tags.  It is validated when loaded so that a
wrong mapping fails before any data moves, with a message that names the
file, the key and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from custodata.errors import MappingError
from custodata.fields import PARTY_FIELDS, RECORD_FIELDS, BusinessType, PartyKind, PartyRole, TagKind
from custodata.yamlconfig import read_yaml, validate

SourceFormat = Literal["csv", "jsonl", "parquet", "sql"]


def _suggest(value: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(value, allowed, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"'{value}' is not one of: {', '.join(allowed)}.{hint}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartyMapping(_Strict):
    """One party named in a record: its role and which columns describe it."""

    role: PartyRole
    kind: PartyKind = PartyKind.AUTO
    fields: dict[str, str] = Field(description="source column -> canonical party field")

    @field_validator("fields")
    @classmethod
    def _known_party_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for column, canonical in value.items():
            if canonical not in PARTY_FIELDS:
                raise ValueError(f"column '{column}': {_suggest(canonical, PARTY_FIELDS)}")
        if len(set(value.values())) != len(value):
            dup = sorted({c for c in value.values() if list(value.values()).count(c) > 1})
            raise ValueError(f"canonical field(s) {dup} mapped twice; map each field once")
        if not ({"name", "id_number", "uscc", "mobile"} & set(value.values())):
            raise ValueError(
                "a party needs at least one identifying field: name, id_number, uscc or mobile"
            )
        return value


class TagColumn(_Strict):
    column: str
    kind: TagKind
    name: str = Field(description="tag name shown to users, e.g. 车险风险评分")


class CsvOptions(_Strict):
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    quote: str = '"'


class SourceMapping(_Strict):
    """The whole mapping of one source system."""

    system: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    label: str = ""
    business_type: BusinessType
    format: SourceFormat
    path: str | None = None
    url: str | None = None
    table: str | None = None
    csv: CsvOptions = CsvOptions()
    record_key: str
    updated_at: str | None = None
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"])
    trust: int = Field(default=50, ge=0, le=100)
    fields: dict[str, str] = Field(default_factory=dict)
    parties: list[PartyMapping]
    tags: list[TagColumn] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _known_record_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for column, canonical in value.items():
            if canonical not in RECORD_FIELDS:
                raise ValueError(f"column '{column}': {_suggest(canonical, RECORD_FIELDS)}")
        return value

    @field_validator("parties")
    @classmethod
    def _at_least_one_party(cls, value: list[PartyMapping]) -> list[PartyMapping]:
        if not value:
            raise ValueError("a source must name at least one party (e.g. role: policy_holder)")
        roles = [p.role.value for p in value]
        twice = sorted({r for r in roles if roles.count(r) > 1})
        if twice:  # a party is identified by record and role; two alike would be one observation
            raise ValueError(f"role(s) {twice} named twice; give each party of a record its own role")
        return value

    @model_validator(mode="after")
    def _location(self) -> SourceMapping:
        if self.format == "sql":
            if not self.url or not self.table:
                raise ValueError("format 'sql' needs 'url' (a SQLAlchemy URL) and 'table'")
        elif not self.path:
            raise ValueError(f"format '{self.format}' needs 'path' (relative to the input folder)")
        return self

    def columns(self) -> list[str]:
        """Every source column the mapping reads, in a stable order."""
        cols = [self.record_key]
        if self.updated_at:
            cols.append(self.updated_at)
        cols += list(self.fields)
        for party in self.parties:
            cols += list(party.fields)
        cols += [t.column for t in self.tags]
        seen: dict[str, None] = {}
        for c in cols:
            seen.setdefault(c, None)
        return list(seen)


def parse_mapping(data: Any, origin: str) -> SourceMapping:
    """Validate mapping data; ``origin`` names the file in error messages."""
    return validate(SourceMapping, data, origin, MappingError)


def load_mapping(path: Path) -> SourceMapping:
    """Load and validate one mapping YAML file."""
    return parse_mapping(read_yaml(path, "mapping file", MappingError), str(path))


def load_mappings(folder: Path) -> list[SourceMapping]:
    """Load every ``*.yaml`` mapping in a folder; system names must be unique."""
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise MappingError(f"{folder}: no mapping files (*.yaml) found")
    mappings = [load_mapping(f) for f in files]
    seen: dict[str, Path] = {}
    for f, m in zip(files, mappings, strict=True):
        if m.system in seen:
            raise MappingError(
                f"{f}: key 'system': '{m.system}' is already used by {seen[m.system]}; "
                "give each source system its own name"
            )
        seen[m.system] = f
    return mappings


def default_mappings_dir() -> Path:
    """The mappings of the demo financial group's systems, shipped with the package."""
    return Path(__file__).parent / "systems"
