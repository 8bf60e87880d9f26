"""The public keys that verify attestations (no API key needed)."""

from fastapi import APIRouter

router = APIRouter(tags=["attestations"])
