"""SKU makers and suppliers: who may name another organization's SKU, and whose transfers an organization accepts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sku_maker",
        sa.Column("sku_pk", sa.Integer(), nullable=False),
        sa.Column("organization_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sku_pk"], ["sku.pk"], name=op.f("fk_sku_maker_sku_pk_sku")),
        sa.ForeignKeyConstraint(
            ["organization_pk"], ["organization.pk"], name=op.f("fk_sku_maker_organization_pk_organization")
        ),
        sa.PrimaryKeyConstraint("sku_pk", "organization_pk", name=op.f("pk_sku_maker")),
    )
    op.create_table(
        "supplier",
        sa.Column("organization_pk", sa.Integer(), nullable=False),
        sa.Column("supplier_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_pk"], ["organization.pk"], name=op.f("fk_supplier_organization_pk_organization")
        ),
        sa.ForeignKeyConstraint(["supplier_pk"], ["organization.pk"], name=op.f("fk_supplier_supplier_pk_organization")),
        sa.PrimaryKeyConstraint("organization_pk", "supplier_pk", name=op.f("pk_supplier")),
    )


def downgrade() -> None:
    op.drop_table("supplier")
    op.drop_table("sku_maker")
