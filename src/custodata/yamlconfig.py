"""Typed YAML configuration validated at the edge, with errors that name the file, the key and the fix.

Mappings, grades, recogniser settings, resolution settings and masking
policies are all YAML checked by pydantic models; they share one reader so
every one of them reports a mistake the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from custodata.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def format_location(loc: tuple[Any, ...]) -> str:
    """``('parties', 0, 'fields')`` -> ``parties[0].fields``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def error_message(err: Any) -> str:
    """A pydantic error as advice: what is wrong and what to do instead."""
    ctx = err.get("ctx") or {}
    if err["type"] == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if err["type"] == "missing":
        return "required key is missing; add it"
    if ctx.get("expected"):
        return f"'{err.get('input')}' is not allowed; use one of {ctx['expected']}"
    return str(err["msg"]).removeprefix("Value error, ")


def validation_lines(exc: ValidationError, origin: str) -> str:
    return "\n".join(f"{origin}: key '{format_location(e['loc'])}': {error_message(e)}" for e in exc.errors())


def read_yaml(path: Path, what: str, error: type[Exception] = ConfigError) -> Any:
    """Parsed YAML of a file, or one clean ``error`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None


def validate(model: type[M], data: Any, origin: str, error: type[Exception] = ConfigError) -> M:
    """``model`` from parsed YAML; every problem reported with ``origin`` and its key."""
    if not isinstance(data, dict):
        raise error(f"{origin}: the file must be a YAML mapping (key: value), got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(validation_lines(exc, origin)) from None


def load_yaml_model(model: type[M], path: Path, what: str, error: type[Exception] = ConfigError) -> M:
    return validate(model, read_yaml(path, what, error), str(path), error)
