"""The tag catalogue [标签体系] as data, each tag graded by the data it is built from.

A tag says who owns it, where it comes from and how it is refreshed; its grade is not a
free choice: it is *inherited* from its inputs (the layer attributes and business records it
reads, and behind them the graded fields of ``classification/grading.yaml``), so a score
computed from health records carries the health label (PIPL Art. 28) and the level of the
fields it reads, whatever its owner would like. A declared grade may only be stricter.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from custodata.classification.grading import Grading, load_grading
from custodata.errors import ConfigError
from custodata.fields import BusinessType
from custodata.yamlconfig import load_yaml_model

DEFAULT_PATH = Path(__file__).with_name("catalogue.yaml")

TagKind = Literal["external_feature", "mining_model", "mart", "rule", "computed"]
SOURCE_KINDS: frozenset[str] = frozenset({"external_feature", "mining_model", "mart"})
ValueType = Literal["number", "text", "bool", "date"]
Resolve = Literal["latest", "max", "min", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grade(_Strict):
    """JR/T 0197 level and PIPL Art. 28 sensitive-personal-information labels."""

    level: int = Field(1, ge=1, le=5)
    labels: tuple[str, ...] = ()

    def covers(self, other: Grade) -> bool:
        return self.level >= other.level and set(other.labels) <= set(self.labels)

    def join(self, other: Grade) -> Grade:
        return Grade(level=max(self.level, other.level), labels=tuple(sorted({*self.labels, *other.labels})))


class Input(_Strict):
    """A layer attribute (``layer.customer_view`` column) and what it is derived from."""

    type: ValueType
    fields: tuple[str, ...] = ()
    business: tuple[BusinessType, ...] = ()


class Sensitive(_Strict):
    types: dict[str, str] = Field(default_factory=dict, description="grading type -> PIPL label")
    business: dict[BusinessType, str] = Field(default_factory=dict, description="business type -> PIPL label")


class Source(_Strict):
    """Where a tag's value comes from: one of system+name, layer_tag or segment."""

    system: str | None = None
    name: str | None = None
    layer_tag: str | None = None
    segment: str | None = None


class Tag(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,60}$")
    name_zh: str = Field(min_length=1)
    kind: TagKind
    owner: str = Field(min_length=1)
    source: Source
    value_type: ValueType
    resolve: Resolve | None = None
    roles: tuple[str, ...] = Field((), description="source tags: only records where the customer has one of "
                                   "these roles (a health score is the insured's, not the payer's)")
    refresh: str = Field(min_length=1)
    version: int = Field(ge=1)
    reads: tuple[str, ...] = ()
    grade: Grade | None = None

    @model_validator(mode="after")
    def _source_fits_kind(self) -> Tag:
        s = self.source
        if self.kind in SOURCE_KINDS:
            if not (s.system and s.name) or s.layer_tag or s.segment:
                raise ValueError(f"a {self.kind} tag needs source.system and source.name (the source's tag name)")
            if self.resolve is None:
                raise ValueError("a source tag needs resolve: latest, max, min or any")
            if self.resolve in ("max", "min") and self.value_type not in ("number", "date"):
                raise ValueError(f"resolve: {self.resolve} needs value_type number or date")
            if self.resolve == "any" and self.value_type != "bool":
                raise ValueError("resolve: any (true when any record says true) needs value_type bool")
        else:
            if self.roles:
                raise ValueError(f"roles is for source tags; a {self.kind} tag does not read records itself")
            if self.resolve is not None:
                raise ValueError(f"resolve is for source tags; a {self.kind} tag has one value per customer")
            if self.value_type != "bool":
                raise ValueError(f"a {self.kind} tag is a yes/no membership: value_type bool")
        if self.kind == "computed" and (not s.layer_tag or s.system or s.segment):
            raise ValueError("a computed tag needs source.layer_tag (a tag of tags/rules.yaml) only")
        if self.kind == "rule" and (not s.segment or s.system or s.layer_tag):
            raise ValueError("a rule tag needs source.segment (a segment tree of segments.yaml) only")
        return self


class CatalogueFile(_Strict):
    sensitive: Sensitive = Field(default_factory=Sensitive)
    inputs: dict[str, Input]
    tags: list[Tag]


class Catalogue:
    """The loaded catalogue: tags by id, their inputs and their inherited grades."""

    def __init__(self, data: CatalogueFile, grading: Grading, origin: str) -> None:
        self.origin = origin
        self.sensitive = data.sensitive
        self.inputs = data.inputs
        self.grading = grading
        self.tags: dict[str, Tag] = {}
        for i, tag in enumerate(data.tags):
            if tag.id in self.tags:
                raise ConfigError(f"{origin}: key 'tags[{i}].id': '{tag.id}' is defined twice; ids are unique")
            self.tags[tag.id] = tag
        for key, inp in self.inputs.items():
            for f in inp.fields:
                if grading.field_type(f) is None:
                    raise ConfigError(f"{origin}: key 'inputs.{key}.fields': '{f}' is not a graded field of "
                                      f"grading.yaml; known: {', '.join(grading.fields)}")
        for t, label in self.sensitive.types.items():
            if t not in grading.types:
                raise ConfigError(f"{origin}: key 'sensitive.types.{t}': not a grading type ({label})")
        for i, tag in enumerate(data.tags):
            for r in tag.reads:
                if r not in self.inputs:
                    raise ConfigError(f"{origin}: key 'tags[{i}].reads': '{r}' is not one of the inputs: "
                                      f"{', '.join(self.inputs)}")
            self.check_declared(tag, self.inherited(tag.reads), f"tags[{i}].grade")

    def input_grade(self, name: str) -> Grade:
        """The grade of one input: its fields' highest level and every PIPL label behind it."""
        inp = self.inputs[name]
        level = max((self.grading.field_level(f) for f in inp.fields), default=1)
        labels = {self.sensitive.types[t] for f in inp.fields
                  if (t := self.grading.field_type(f)) in self.sensitive.types}
        labels |= {self.sensitive.business[b] for b in inp.business if b in self.sensitive.business}
        return Grade(level=level, labels=tuple(sorted(labels)))

    def business_grade(self, business: BusinessType, fields: tuple[str, ...] = ()) -> Grade:
        """The grade of reading business records of one type (and some of their fields)."""
        level = max((self.grading.field_level(f) for f in fields), default=1)
        labels = {self.sensitive.business[business]} if business in self.sensitive.business else set()
        labels |= {self.sensitive.types[t] for f in fields if (t := self.grading.field_type(f)) in self.sensitive.types}
        return Grade(level=level, labels=tuple(sorted(labels)))

    def inherited(self, reads: tuple[str, ...] | list[str]) -> Grade:
        grade = Grade(level=1)
        for r in reads:
            grade = grade.join(self.input_grade(r))
        return grade

    def check_declared(self, tag: Tag, inherited: Grade, key: str) -> None:
        if tag.grade is not None and not tag.grade.covers(inherited):
            raise ConfigError(
                f"{self.origin}: key '{key}': tag '{tag.id}' declares level {tag.grade.level} "
                f"labels {list(tag.grade.labels)} but is built from data graded level {inherited.level} "
                f"labels {list(inherited.labels)}; a tag cannot be graded below its inputs")

    def grade(self, tag_id: str) -> Grade:
        """The tag's effective grade: the inherited one, or the stricter declared one."""
        tag = self.tags[tag_id]
        inherited = self.inherited(tag.reads)
        return inherited.join(tag.grade) if tag.grade else inherited

    def tag(self, tag_id: str) -> Tag:
        try:
            return self.tags[tag_id]
        except KeyError:
            raise ConfigError(f"unknown tag '{tag_id}'; known: {', '.join(self.tags)}") from None


@lru_cache(maxsize=8)
def _load(path: Path) -> Catalogue:
    data = load_yaml_model(CatalogueFile, path, "tag catalogue")
    return Catalogue(data, load_grading(), str(path))


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The tag catalogue; ``path`` overrides the shipped one."""
    return _load((path or DEFAULT_PATH).resolve())
