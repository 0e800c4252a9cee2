"""The billing ledger: one row per produced file version and per count in it, the anomaly
flags of each tenant-day, their acknowledgements and the transmission attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bds_ledger_file",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("period_kind", sa.String(5), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("config_revision", sa.Integer, nullable=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False),
        sa.Column("written_at", sa.String(27), nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("superseded_at", sa.String(27), nullable=True),
        sa.Column("superseded_reason", sa.Text, nullable=True),
        sa.Column("previous_version", sa.Text, nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("s3_uri", sa.Text, nullable=True),
        sa.Column("uploaded_at", sa.String(20), nullable=True),
        sa.Column("failure", sa.Text, nullable=True),
    )
    op.create_index("bds_ledger_file_period", "bds_ledger_file", ["tenant_id", "period_kind", "period", "current"])
    op.create_table(
        "bds_ledger_count",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("count_name", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("period_kind", sa.String(5), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("config_revision", sa.Integer, nullable=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("written_at", sa.String(27), nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
    )
    # The Results page and the flags read a tenant's current counts over a range of periods.
    op.create_index("bds_ledger_count_results", "bds_ledger_count", ["tenant_id", "period_kind", "current", "period"])
    op.create_table(
        "bds_ledger_flag",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("period_kind", sa.String(5), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("count_name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=True),
        sa.Column("baseline", sa.Float, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("raised_at", sa.String(27), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
    )
    op.create_index("bds_ledger_flag_newest", "bds_ledger_flag", ["period", "tenant_id"])
    op.create_index("bds_ledger_flag_tenant", "bds_ledger_flag", ["tenant_id", "period_kind", "period"])
    # What operators said and what the billing server answered: not derivable from the
    # archive, so a rebuild of the ledger keeps these two tables as they are.
    op.create_table(
        "bds_ledger_ack",
        sa.Column("flag_id", sa.String(64), primary_key=True),
        sa.Column("acked_by", sa.String(256), nullable=False),
        sa.Column("acked_at", sa.String(27), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
    )
    op.create_table(
        "bds_ledger_attempt",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("at", sa.String(27), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
    )
    op.create_index("bds_ledger_attempt_file", "bds_ledger_attempt", ["name", "sha256", "id"])


def downgrade() -> None:
    for table in ("bds_ledger_attempt", "bds_ledger_ack", "bds_ledger_flag", "bds_ledger_count", "bds_ledger_file"):
        op.drop_table(table)
