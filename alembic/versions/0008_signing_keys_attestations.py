"""signing keys and attestations: signed answers kept as they were given, and the public keys that verify them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
    )
    op.create_table(
        "attestation",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("lot", sa.String(length=36), nullable=True),
        sa.Column("key_id", sa.String(length=36), nullable=True),
        sa.Column("organization", sa.String(length=64), nullable=True),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["kid"], ["signing_key.kid"], name=op.f("fk_attestation_kid_signing_key")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_attestation")),
        sa.UniqueConstraint("id", name=op.f("uq_attestation_id")),
    )
    with op.batch_alter_table("attestation") as batch:
        batch.create_index(batch.f("ix_attestation_sku"), ["sku"], unique=False)
        batch.create_index(batch.f("ix_attestation_lot"), ["lot"], unique=False)


def downgrade() -> None:
    op.drop_table("attestation")
    op.drop_table("signing_key")
