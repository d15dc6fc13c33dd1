"""Dependencies every route shares: the process's services and the authenticated caller.

``CallerDep`` authenticates *every* request through the service layer, so a
status change (left, frozen) or a revoked role bites on the very next request,
live token or not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from custodata.service import Caller, Services
from custodata.service import auth as auth_service

bearer = HTTPBearer(auto_error=False, description="the token returned by POST /api/v1/login")

NOT_LOGGED_IN = "not logged in: send the token from POST /api/v1/login as 'Authorization: Bearer <token>'"


# ``async`` where no I/O is done: FastAPI runs a plain ``def`` dependency in the thread pool,
# a thread hop per dependency per request for what is an attribute read.
async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


MAX_TOKEN = 8192  # custodata's session tokens are 43 characters; the IdP's JWT access tokens run to a few KB
# how a route that solves no dependencies still shows its bearer token in the OpenAPI spec
BEARER_SECURITY: dict[str, object] = {"security": [{bearer.scheme_name: []}]}


def _not_logged_in() -> HTTPException:
    return HTTPException(401, NOT_LOGGED_IN, headers={"WWW-Authenticate": "Bearer"})


async def token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    if credentials is None or not credentials.credentials or len(credentials.credentials) > MAX_TOKEN:
        raise _not_logged_in()
    return credentials.credentials


def bearer_token(request: Request) -> str:
    """The bearer token as :data:`TokenDep` reads it, for the hot route that solves no dependencies.

    FastAPI's dependency solving (services, token, the bearer scheme: three sub-dependencies
    and their cache keys) cost about as much per request as reading the session.
    """
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or len(credentials) > MAX_TOKEN:
        raise _not_logged_in()
    return credentials


ServicesDep = Annotated[Services, Depends(services)]
TokenDep = Annotated[str, Depends(token)]


def caller(request: Request, svc: ServicesDep, bearer_token: TokenDep) -> Caller:
    return authenticate(request, svc, bearer_token)


def authenticate(request: Request, svc: Services, bearer_token: str) -> Caller:
    """The caller of ``request``, re-read now: for a route that authenticates inside its own worker thread."""
    return auth_service.authenticate(svc, bearer_token, source_address=client_address(request))


CallerDep = Annotated[Caller, Depends(caller)]
