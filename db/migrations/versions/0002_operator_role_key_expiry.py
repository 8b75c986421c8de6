"""operator role, API key expiry, per-account in-flight index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("ck_users_role", type_="check")
        batch.create_check_constraint("ck_users_role", "role IN ('admin', 'operator', 'user')")
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_jobs_owner_unfinished", "jobs", ["owner_id"], postgresql_where=UNFINISHED, sqlite_where=UNFINISHED
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_unfinished", "jobs")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
    op.execute("UPDATE users SET role = 'user' WHERE role = 'operator'")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("ck_users_role", type_="check")
        batch.create_check_constraint("ck_users_role", "role IN ('admin', 'user')")
