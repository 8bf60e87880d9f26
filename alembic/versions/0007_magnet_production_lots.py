"""magnet production lots: lots made by magnet making count for the SKU they name (contract 1.1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 03:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

event = sa.table("event", sa.column("pk", sa.Integer()), sa.column("type", sa.String()), sa.column("stage", sa.String()))
lot = sa.table(
    "lot",
    sa.column("event_pk", sa.Integer()),
    sa.column("is_production", sa.Boolean()),
    sa.column("sku_pk", sa.Integer()),
)
sku = sa.table("sku", sa.column("pk", sa.Integer()), sa.column("revision", sa.String()))
MAGNET_MAKING = sa.select(event.c.pk).where(event.c.type == "processing", event.c.stage == "magnet_making")


def _mark(is_production: bool) -> None:
    """Set magnet-making lots' flag, and renew the revision of every SKU whose answer that changes."""
    connection = op.get_bind()
    touched = connection.execute(
        sa.select(lot.c.sku_pk).distinct().where(lot.c.event_pk.in_(MAGNET_MAKING), lot.c.sku_pk.is_not(None))
    ).scalars()
    for sku_pk in list(touched):
        connection.execute(sku.update().where(sku.c.pk == sku_pk).values(revision=uuid.uuid4().hex))
    connection.execute(lot.update().where(lot.c.event_pk.in_(MAGNET_MAKING)).values(is_production=is_production))


def upgrade() -> None:
    _mark(True)


def downgrade() -> None:
    _mark(False)
