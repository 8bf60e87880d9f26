"""GS1 EPCIS 2.0: GLNs on organizations and facilities, a lot's EPC class, captured events and capture jobs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs and indexes: copying these tables on SQLite would trip their foreign keys and
    # drop the lower(code) indexes (0009).
    for table in ("organization", "facility"):
        op.add_column(table, sa.Column("gln", sa.String(length=13), nullable=True))
        op.create_index(f"uq_{table}_gln", table, ["gln"], unique=True)
    op.add_column("lot", sa.Column("epc_class", sa.String(length=500), nullable=True))
    op.create_index("ix_lot_facility_pk_epc_class", "lot", ["facility_pk", "epc_class"])
    op.create_table(
        "epcis_capture",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=True),
        sa.Column("organization", sa.String(length=64), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_epcis_capture")),
        sa.UniqueConstraint("id", name=op.f("uq_epcis_capture_id")),
    )
    op.create_index("ix_epcis_capture_organization", "epcis_capture", ["organization"])
    op.create_table(
        "epcis_event",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=500), nullable=False),
        sa.Column("hash", sa.String(length=100), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("capture_pk", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("declaration", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["event_pk"], ["event.pk"], name=op.f("fk_epcis_event_event_pk_event")),
        sa.ForeignKeyConstraint(
            ["capture_pk"], ["epcis_capture.pk"], name=op.f("fk_epcis_event_capture_pk_epcis_capture")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_epcis_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_epcis_event_event_id")),
        sa.UniqueConstraint("event_pk", name=op.f("uq_epcis_event_event_pk")),
    )


def downgrade() -> None:
    op.drop_table("epcis_event")
    op.drop_index("ix_epcis_capture_organization", table_name="epcis_capture")
    op.drop_table("epcis_capture")
    op.drop_index("ix_lot_facility_pk_epc_class", table_name="lot")
    op.drop_column("lot", "epc_class")
    for table in ("facility", "organization"):
        op.drop_index(f"uq_{table}_gln", table_name=table)
        op.drop_column(table, "gln")
