"""Request-scoped dependencies: one transaction per request, the caller's credentials, settings."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service.auth import authenticate
from service.config import Settings
from service.db import MAX_CONNECTIONS, transaction

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <api key>`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key in `X-API-Key`.")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's one transaction, committed when the handler returns.

    Async on purpose: opening and committing run on the event loop, so a request that
    holds a lock never needs a second worker thread to release it. Every wait (a pool
    connection, a row lock, SQLite's write lock) happens inside the handler's one thread.
    """
    with transaction(request.app.state.engine, write=request.method not in READ_METHODS) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def require_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    x_api_key: Annotated[str | None, Security(api_key_header)],
) -> str:
    """The caller's role; 401 problem+json without a valid key."""
    authorization = request.headers.get("authorization")
    key = credentials.credentials if credentials is not None else None
    if authorization and key is None:
        key = ""  # an Authorization header that is not a bearer token is a bad credential
    return authenticate(key if authorization else x_api_key, request.app.state.admin_keys)


# At most as many transactions at once as the engine has connections. Requests beyond wait
# here without holding a worker thread; a request holding a row or write lock therefore
# always finds a thread to finish on (FastAPI serializes the answer in the thread pool
# before the transaction ends), and no request waits for a pool connection.
SessionDep = Annotated[Session, Depends(get_session, scope="function", max_concurrency=MAX_CONNECTIONS)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RoleDep = Annotated[str, Depends(require_key)]
