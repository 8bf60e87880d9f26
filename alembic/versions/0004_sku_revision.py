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
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.String(length=32), nullable=True))
    connection = op.get_bind()
    sku = sa.table("sku", sa.column("pk", sa.Integer()), sa.column("revision", sa.String()))
    for (pk,) in connection.execute(sa.select(sku.c.pk)).all():
        connection.execute(sku.update().where(sku.c.pk == pk).values(revision=uuid.uuid4().hex))
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.alter_column("revision", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.drop_column("revision")
