"""The peer of the service benchmark: the same stored document over HTTP with no protection at all.

``GET /peer/customers/{id}`` answers the customer's served document exactly as it is
stored in ``served_customer`` (the active generation, by primary key), with no
authentication, no policy decision, no decryption, no masking and no audit event.
It runs under the same uvicorn settings as the real application, so the difference
between the two is what custodata's controls cost per request — nothing else.

    CUSTODATA_DB_URL=sqlite:///bench-out/service/custodata.sqlite \\
        .venv/bin/python -m uvicorn benchmarks.peer_app:create_app --factory

Never deploy this: it hands out every customer's stored document to anyone who asks.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Path, Response

from custodata.api.app import api_threads
from custodata.ops.store import make_engine
from custodata.serving.tables import ACTIVE, served_customer, served_generation

_DOC = (sa.select(served_customer.c.doc)
        .where(served_customer.c.generation == sa.bindparam("generation", type_=sa.Integer),
               served_customer.c.customer_id == sa.bindparam("customer_id", type_=sa.String)))


def create_app() -> FastAPI:
    """The peer app over ``CUSTODATA_DB_URL``; the active generation is read once, at start."""
    url = os.environ["CUSTODATA_DB_URL"]
    # the service's own engine settings (pool, SQLite pragmas), in autocommit as the service's reader engine
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        generation = con.execute(sa.select(sa.func.max(served_generation.c.generation))
                                 .where(served_generation.c.status == ACTIVE)).scalar_one()
    threads = api_threads()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # the thread pool bounded as the real application bounds it (CUSTODATA_API_THREADS, default 12)
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.get("/api/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/peer/customers/{customer_id}")
    def document(customer_id: Annotated[str, Path(max_length=64)]) -> Response:
        with engine.connect() as con:
            doc = con.execute(_DOC, {"generation": generation, "customer_id": customer_id}).scalar_one_or_none()
        if doc is None:
            raise HTTPException(404, "not found")
        return Response(doc, media_type="application/json")

    return app
