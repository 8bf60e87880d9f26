"""lot value and price: a lot's exact value (rational text) and currency; element prices by date

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import ExactDecimal, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable, no constraint): rebuilding the lot table on SQLite would trip its foreign keys.
    op.add_column("lot", sa.Column("value_amount", sa.Text(), nullable=True))
    op.add_column("lot", sa.Column("value_currency", sa.String(length=3), nullable=True))
    op.create_table(
        "price",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("element", sa.String(length=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price_per_kg", ExactDecimal(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_price")),
        sa.UniqueConstraint("element", "currency", "valid_from", name=op.f("uq_price_element_currency_valid_from")),
    )


def downgrade() -> None:
    op.drop_table("price")
    op.drop_column("lot", "value_currency")
    op.drop_column("lot", "value_amount")
