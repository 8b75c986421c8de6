"""Writes webhook outbox rows in the transaction of the state change they report.

Sync on purpose: workers call it on their connection, the API through
`AsyncSession.run_sync`, so both sides share one implementation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select

from db.tables import WebhookDeliveryStatus, jobs_table, webhook_deliveries_table

Trigger = Literal["start", "completed"]
EVENT_TYPES: dict[Trigger, str] = {"start": "conversation.started", "completed": "conversation.completed"}
RenderEvent = Callable[[str, Any, datetime], dict[str, Any]]


def record_events(
    conn: Connection, *, job_ids: Sequence[uuid.UUID], trigger: Trigger, now: datetime, render: RenderEvent
) -> list[uuid.UUID]:
    """Outbox rows for those of `job_ids` with a webhook subscribed to `trigger`; their ids.

    `render(event_type, job_row, now)` builds the body, a snapshot of the job as it is now.
    """
    if not job_ids:
        return []
    rows = conn.execute(select(jobs_table).where(jobs_table.c.id.in_(job_ids), jobs_table.c.webhook.is_not(None))).all()
    deliveries = [
        {
            "id": uuid.uuid4(),
            "job_id": row.id,
            "owner_id": row.owner_id,
            "event": EVENT_TYPES[trigger],
            "url": row.webhook,
            "payload": render(EVENT_TYPES[trigger], row, now),
            "status": WebhookDeliveryStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for row in rows
        if trigger in (row.webhook_events_filter or ())
    ]
    if deliveries:
        conn.execute(insert(webhook_deliveries_table), deliveries)
    return [delivery["id"] for delivery in deliveries]
