"""codes unique without regard to case, a GTIN on one SKU at most

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, index name, columns; the first is compared in lower case)
CODES = (
    ("organization", "uq_organization_code_lower", ("code",)),
    ("facility", "uq_facility_code_lower", ("code",)),
    ("sku", "uq_sku_sku_lower", ("sku",)),
    ("lot", "uq_lot_code_lower", ("code", "organization_pk")),
)


def _refuse_duplicates(connection: sa.Connection, table: str, columns: tuple[str, ...], lower: bool) -> None:
    """Stop, naming them, when rows already break the new rule: an operator decides which code to change."""
    keys = [sa.column(name) for name in columns]
    if lower:
        keys[0] = sa.func.lower(keys[0])
    spelled = sa.column(columns[0])
    query = (
        sa.select(*keys, sa.func.count(), sa.func.min(spelled), sa.func.max(spelled))
        .select_from(sa.table(table))
        .where(spelled.is_not(None))
        .group_by(*keys)
        .having(sa.func.count() > 1)
        .limit(20)
    )
    clashes = connection.execute(query).all()
    if clashes:
        found = "; ".join(f"{row[-2]!r} and {row[-1]!r} ({row[-3]} rows)" for row in clashes)
        what = f"{table}.{columns[0]} values equal without regard to case" if lower else f"{table}.{columns[0]} values"
        raise RuntimeError(
            f"Migration 0009 stops: these {what} are used more than once ({found}). "
            "Change all but one of each (nothing was changed), then migrate again."
        )


def upgrade() -> None:
    connection = op.get_bind()
    for table, _, columns in CODES:
        _refuse_duplicates(connection, table, columns, lower=True)
    _refuse_duplicates(connection, "sku", ("gtin",), lower=False)
    # Unique indexes, not constraints: SQLite adds those only by copying the table, which its foreign
    # keys (lots name SKUs) refuse. A later batch migration of these tables must create the indexes on
    # an expression again: SQLAlchemy cannot reflect them from SQLite, so a batch copy would drop them.
    op.create_index("uq_sku_gtin", "sku", ["gtin"], unique=True)
    for table, name, columns in CODES:
        cased, *within = columns
        op.create_index(name, table, [sa.text(f"lower({cased})"), *within], unique=True)


def downgrade() -> None:
    for table, name, _ in reversed(CODES):
        op.drop_index(name, table_name=table)
    op.drop_index("uq_sku_gtin", table_name="sku")
