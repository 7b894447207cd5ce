"""Archive-timestamp renewals (RFC 4998 5.2, 5.3): renewal stamps and their tree leaves

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "archive_stamps",
        sa.Column("seq", BIG, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("gen_time", sa.DateTime(), nullable=False),
        sa.Column("tsr", sa.LargeBinary(), nullable=False),
        sa.Column("tsa_chain", sa.Text(), nullable=False),
        sa.Column("tsa_not_after", sa.DateTime(), nullable=False),
        sa.Column("origins", sa.Text(), nullable=False),
        sa.Column("object_prefix", sa.String(length=200), nullable=False),
        sa.Column("versions", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "stamp_leaves",
        sa.Column("stamp_seq", BIG, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("covers", sa.String(length=64), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["stamp_seq"], ["archive_stamps.seq"]),
        sa.PrimaryKeyConstraint("stamp_seq", "position"),
    )
    op.create_index("ix_stamp_leaves_covers", "stamp_leaves", ["covers"])


def downgrade() -> None:
    op.drop_index("ix_stamp_leaves_covers", table_name="stamp_leaves")
    op.drop_table("stamp_leaves")
    op.drop_table("archive_stamps")
