"""Session-wide test settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_key_custody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every store of the test session shares one key file, as an institution shares one KMS.

    Tokens are then comparable across stores (a killed run's store against an
    uninterrupted one); subprocesses inherit the setting.
    """
    previous = os.environ.get("CUSTODATA_KEK_FILE")
    os.environ["CUSTODATA_KEK_FILE"] = str(tmp_path_factory.mktemp("keys") / "kek.json")
    yield
    if previous is None:
        os.environ.pop("CUSTODATA_KEK_FILE", None)
    else:
        os.environ["CUSTODATA_KEK_FILE"] = previous
