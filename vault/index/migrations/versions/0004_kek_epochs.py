"""KEK epochs, erasable journal pseudonyms and the key-state counter

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject_keys", schema=None) as batch_op:
        # rows written before epochs are wrapped under the single KEK file: epoch 0
        batch_op.add_column(sa.Column("epoch", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "kek_epochs",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("epoch"),
    )
    op.create_table(
        "pseudonym_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "subject", name="uq_pseudonym_keys_subject"),
    )
    op.create_table(
        "key_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO key_state (id, counter) VALUES (1, 0)")
    # an index that already holds wrapped keys keeps using its KEK file as epoch 0
    op.execute(
        "INSERT INTO kek_epochs (epoch, state, created_at) "
        "SELECT 0, 'current', MIN(created_at) FROM subject_keys HAVING COUNT(*) > 0"
    )


def downgrade() -> None:
    op.drop_table("key_state")
    op.drop_table("pseudonym_keys")
    op.drop_table("kek_epochs")
    with op.batch_alter_table("subject_keys", schema=None) as batch_op:
        batch_op.drop_column("epoch")
