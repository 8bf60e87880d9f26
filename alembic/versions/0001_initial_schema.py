"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 13:26:24.301703
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db import ExactDecimal, UTCDateTime

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('organization',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_organization')),
    sa.UniqueConstraint('code', name=op.f('uq_organization_code'))
    )
    op.create_table('facility',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organization_pk', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_pk'], ['organization.pk'], name=op.f('fk_facility_organization_pk_organization')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_facility')),
    sa.UniqueConstraint('code', name=op.f('uq_facility_code'))
    )
    with op.batch_alter_table('facility', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_facility_country'), ['country'], unique=False)
        batch_op.create_index(batch_op.f('ix_facility_organization_pk'), ['organization_pk'], unique=False)

    op.create_table('sku',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organization_pk', sa.Integer(), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_pk'], ['organization.pk'], name=op.f('fk_sku_organization_pk_organization')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_sku')),
    sa.UniqueConstraint('sku', name=op.f('uq_sku_sku'))
    )
    with op.batch_alter_table('sku', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sku_organization_pk'), ['organization_pk'], unique=False)

    op.create_table('event',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('facility_pk', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=True),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('voided_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['facility_pk'], ['facility.pk'], name=op.f('fk_event_facility_pk_facility')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_event')),
    sa.UniqueConstraint('id', name=op.f('uq_event_id'))
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_facility_pk'), ['facility_pk'], unique=False)

    op.create_table('facility_stage',
    sa.Column('facility_pk', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['facility_pk'], ['facility.pk'], name=op.f('fk_facility_stage_facility_pk_facility')),
    sa.PrimaryKeyConstraint('facility_pk', 'stage', name=op.f('pk_facility_stage'))
    )
    op.create_table('lot',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('organization_pk', sa.Integer(), nullable=False),
    sa.Column('facility_pk', sa.Integer(), nullable=False),
    sa.Column('event_pk', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('material', sa.String(length=20), nullable=False),
    sa.Column('quantity', ExactDecimal(), nullable=False),
    sa.Column('unit', sa.String(length=3), nullable=False),
    sa.Column('remaining', ExactDecimal(), nullable=False),
    sa.Column('composition', sa.JSON(), nullable=False),
    sa.Column('origin', sa.JSON(), nullable=False),
    sa.Column('element_resolved', sa.Boolean(), nullable=False),
    sa.Column('is_production', sa.Boolean(), nullable=False),
    sa.Column('sku_pk', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("CAST(remaining AS TEXT) NOT LIKE '-%'", name=op.f('ck_lot_remaining_not_negative')),
    sa.ForeignKeyConstraint(['event_pk'], ['event.pk'], name=op.f('fk_lot_event_pk_event')),
    sa.ForeignKeyConstraint(['facility_pk'], ['facility.pk'], name=op.f('fk_lot_facility_pk_facility')),
    sa.ForeignKeyConstraint(['organization_pk'], ['organization.pk'], name=op.f('fk_lot_organization_pk_organization')),
    sa.ForeignKeyConstraint(['sku_pk'], ['sku.pk'], name=op.f('fk_lot_sku_pk_sku')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_lot')),
    sa.UniqueConstraint('id', name=op.f('uq_lot_id')),
    sa.UniqueConstraint('organization_pk', 'code', name=op.f('uq_lot_organization_pk_code'))
    )
    with op.batch_alter_table('lot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_event_pk'), ['event_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_facility_pk'), ['facility_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_sku_pk'), ['sku_pk'], unique=False)

    op.create_table('event_input',
    sa.Column('event_pk', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('lot_pk', sa.Integer(), nullable=False),
    sa.Column('quantity', ExactDecimal(), nullable=False),
    sa.ForeignKeyConstraint(['event_pk'], ['event.pk'], name=op.f('fk_event_input_event_pk_event')),
    sa.ForeignKeyConstraint(['lot_pk'], ['lot.pk'], name=op.f('fk_event_input_lot_pk_lot')),
    sa.PrimaryKeyConstraint('event_pk', 'position', name=op.f('pk_event_input'))
    )
    with op.batch_alter_table('event_input', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_input_lot_pk'), ['lot_pk'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('event_input', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_input_lot_pk'))

    op.drop_table('event_input')
    with op.batch_alter_table('lot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_sku_pk'))
        batch_op.drop_index(batch_op.f('ix_lot_facility_pk'))
        batch_op.drop_index(batch_op.f('ix_lot_event_pk'))
        batch_op.drop_index(batch_op.f('ix_lot_code'))

    op.drop_table('lot')
    op.drop_table('facility_stage')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_facility_pk'))

    op.drop_table('event')
    with op.batch_alter_table('sku', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sku_organization_pk'))

    op.drop_table('sku')
    with op.batch_alter_table('facility', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_facility_organization_pk'))
        batch_op.drop_index(batch_op.f('ix_facility_country'))

    op.drop_table('facility')
    op.drop_table('organization')
