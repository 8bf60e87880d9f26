"""Request-scoped dependencies: one transaction per request, the caller's credentials, settings."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service.auth import authenticate
from service.config import Settings
from service.db import transaction

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <api key>`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key in `X-API-Key`.")


def get_session(request: Request) -> Iterator[Session]:
    """The request's one transaction: writers take the write lock at once; committed after the handler."""
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


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RoleDep = Annotated[str, Depends(require_key)]
