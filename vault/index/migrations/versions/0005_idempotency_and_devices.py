"""Idempotency keys, device keys and the tenant setting require_signatures

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite supports it with a default): a batch "move and copy" of tenants
    # would fail on an index with data, whose rows other tables reference with foreign keys on
    op.add_column("tenants", sa.Column("require_signatures", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("call", sa.String(length=16), nullable=False),
        sa.Column("item_ids", sa.Text(), server_default="", nullable=False),
        sa.Column("expected", sa.Integer(), server_default="1", nullable=False),
        sa.Column("request_mac", sa.String(length=64), nullable=True),
        sa.Column("subject_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_devices_api_key_id"), ["api_key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_api_key_id"))
        batch_op.drop_index(batch_op.f("ix_devices_tenant_id"))
    op.drop_table("devices")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("require_signatures")
