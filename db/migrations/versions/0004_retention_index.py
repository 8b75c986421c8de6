"""index finished jobs by completion time, for retention

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = sa.text("status IN ('succeeded', 'failed', 'canceled')")


def upgrade() -> None:
    op.create_index("ix_jobs_finished", "jobs", ["completed_at"], postgresql_where=FINISHED, sqlite_where=FINISHED)


def downgrade() -> None:
    op.drop_index("ix_jobs_finished", "jobs")
