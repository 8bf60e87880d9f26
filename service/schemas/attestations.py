"""Attestations and the public keys that verify them (JWKS, RFC 7517)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JWKS_EXAMPLE: dict[str, Any] = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "dpsjdL2GzNc1gPcCVqNEmAA29e3YmjZHqVITgwsEElE",
            "kid": "onFWwp2GXdHRcuJYR7T0AQSJaeT_B1o-iFRcG5RQJhA",
            "alg": "EdDSA",
            "use": "sig",
        }
    ]
}


class JwkRead(BaseModel):
    """An Ed25519 public key (RFC 8037) that signed attestations."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The public key, base64url.")
    kid: str = Field(description="The key's RFC 7638 thumbprint (base64url SHA-256); a JWS names it in its header.")
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class JwksRead(BaseModel):
    keys: list[JwkRead] = Field(description="Every key not revoked, newest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [JWKS_EXAMPLE]})
