"""API keys, who deposited each item, and lookups by leaf and batch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_tenant_id"), ["tenant_id"], unique=False)
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deposited_by", sa.String(length=200), nullable=True))
        # the audit and the rebuild look rows up by their sealed leaf and by batch
        batch_op.create_index("ix_items_leaf", ["leaf"], unique=False)
        batch_op.create_index("ix_items_batch_seq", ["batch_seq"], unique=False)
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.create_index("ix_journal_leaf", ["leaf"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_leaf")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_batch_seq")
        batch_op.drop_index("ix_items_leaf")
        batch_op.drop_column("deposited_by")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_tenant_id"))
    op.drop_table("api_keys")
