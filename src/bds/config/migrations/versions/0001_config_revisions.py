"""Configuration revisions: one immutable row per accepted change of the whole configuration.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

IMMUTABLE = "bds config revisions are immutable: a change is a new revision"


def upgrade() -> None:
    op.create_table(
        "bds_config_revision",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("restored_from", sa.Integer, sa.ForeignKey("bds_config_revision.number"), nullable=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.CheckConstraint("number > 0", name="bds_config_revision_number_positive"),
    )
    op.create_index("bds_config_revision_hash", "bds_config_revision", ["hash"])
    # Nothing is ever lost: the database itself refuses to change or remove a revision.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION bds_config_revision_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{IMMUTABLE}'; END $$""")
        op.execute("""
            CREATE TRIGGER bds_config_revision_immutable BEFORE UPDATE OR DELETE ON bds_config_revision
            FOR EACH ROW EXECUTE FUNCTION bds_config_revision_immutable()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER bds_config_revision_no_{event.lower()} BEFORE {event} ON bds_config_revision
                BEGIN SELECT RAISE(ABORT, '{IMMUTABLE}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER bds_config_revision_immutable ON bds_config_revision")
        op.execute("DROP FUNCTION bds_config_revision_immutable()")
    op.drop_index("bds_config_revision_hash", "bds_config_revision")
    op.drop_table("bds_config_revision")
