"""CLI commands of the classify concern; registered on the shared Typer app on import."""

from __future__ import annotations

from custodata.cli.app import app  # noqa: F401  (commands attach to it)
