"""Remembered short answers of SKUs for the catalogue lists (GET /v1/compliance, GET /v1/origin)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from service.db import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sku_answer",
        sa.Column("sku_pk", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.String(length=200), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sku_pk"], ["sku.pk"], name=op.f("fk_sku_answer_sku_pk_sku")),
        sa.PrimaryKeyConstraint("sku_pk", "question", name=op.f("pk_sku_answer")),
    )


def downgrade() -> None:
    op.drop_table("sku_answer")
