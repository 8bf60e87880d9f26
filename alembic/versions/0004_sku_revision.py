"""sku revision: a token that changes whenever one of the SKU's lots is recorded or voided

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 16:05:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a default: rebuilding the table on SQLite would trip the lots' foreign keys.
    op.add_column("sku", sa.Column("revision", sa.String(length=32), server_default="initial", nullable=False))
    connection = op.get_bind()
    sku = sa.table("sku", sa.column("pk", sa.Integer()), sa.column("revision", sa.String()))
    for (pk,) in connection.execute(sa.select(sku.c.pk)).all():
        connection.execute(sku.update().where(sku.c.pk == pk).values(revision=uuid.uuid4().hex))


def downgrade() -> None:
    op.drop_column("sku", "revision")
