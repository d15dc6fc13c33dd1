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


# --- the operational store on both engines ----------------------------------------------------
# Tests that take ``ops_url`` run once on SQLite and once on the PostgreSQL server of this machine
# (127.0.0.1:5432, user postgres; `make test` starts it). Each test gets a database of its own.

PG_ADMIN_URL = os.environ.get("CUSTODATA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _fresh_pg_database() -> tuple[str, str]:
    import uuid

    import sqlalchemy as sa

    name = f"cd_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as con:
            con.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (make test starts it): {exc}")
    finally:
        admin.dispose()
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ops_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A fresh, empty operational-store URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{os.path.join(tmp_path, 'ops.sqlite')}"
        return
    name, url = _fresh_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(name)


# --- the batch engine on Spark ----------------------------------------------------------------
# One SparkSession for the whole test run (starting one costs ~10-20 s); local[2] unless
# CUSTODATA_TEST_SPARK_MASTER names another master (spark://127.0.0.1:7077 from scripts/spark-cluster.sh).


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("pyspark")
    from custodata.engine.spark_engine import session

    spark = session(os.environ.get("CUSTODATA_TEST_SPARK_MASTER", "local[2]"), app_name="custodata-tests",
                    warehouse=tmp_path_factory.mktemp("spark-session"))
    yield spark
    spark.stop()


# the deployment fixtures (service, API and console tests); imported last: it uses the helpers above
from tests.deployment import deployment, deployment_world, on_day  # noqa: E402, F401
