"""The public keys that verify attestations (no API key needed)."""

from fastapi import APIRouter, Request, Response

from service import signing
from service.api.deps import SessionDep, run_database_work
from service.schemas import JwksRead

router = APIRouter(tags=["attestations"])

# Long enough to spare the database, short enough that a revoked key stops verifying within minutes.
CACHE_CONTROL = "public, max-age=300"


@router.get("/.well-known/jwks.json", summary="Public keys that verify attestations")
async def get_jwks(request: Request, response: Response, session: SessionDep) -> JwksRead:
    """The keys that make an attestation genuine: the one its JWS header names by `kid`; revoked keys are gone."""
    keys = await run_database_work(request, signing.jwks, session, request.app.state.signer)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return JwksRead.model_validate(keys)
