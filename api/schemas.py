"""Request and response bodies of the HTTP API (DESIGN.md §4). Separate from the tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from db.tables import Job, Role

MAX_MESSAGE_CHARS = 4000
MAX_CONTEXT_TURNS = 20
MAX_CONTEXT_CHARS = 16000
MAX_WEBHOOK_URL_CHARS = 2048

WebhookEvent = Literal["start", "completed"]
ALL_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("start", "completed")
Message = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class Strict(BaseModel):
    """Unknown fields are refused: a typo'd field name should be a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ConversationRequest(Strict):
    message: Message
    context: str | list[str] | None = None
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    webhook: AnyHttpUrl | None = Field(default=None)
    webhook_events_filter: list[WebhookEvent] = Field(default_factory=lambda: list(ALL_WEBHOOK_EVENTS))

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be blank")
        return value

    @field_validator("context")
    @classmethod
    def _bounded_context(cls, value: str | list[str] | None) -> str | list[str] | None:
        turns = [value] if isinstance(value, str) else (value or [])
        if len(turns) > MAX_CONTEXT_TURNS:
            raise ValueError(f"context has more than {MAX_CONTEXT_TURNS} turns")
        if sum(len(turn) for turn in turns) > MAX_CONTEXT_CHARS:
            raise ValueError(f"context is longer than {MAX_CONTEXT_CHARS} characters in all")
        return value

    @field_validator("webhook")
    @classmethod
    def _bounded_url(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and len(str(value)) > MAX_WEBHOOK_URL_CHARS:
            raise ValueError(f"webhook URL is longer than {MAX_WEBHOOK_URL_CHARS} characters")
        return value

    @field_validator("webhook_events_filter")
    @classmethod
    def _unique_events(cls, value: list[str]) -> list[str]:
        return sorted(set(value), key=value.index)


class JobInput(BaseModel):
    message: str
    context: str | list[str] | None = None
    user_id: str | None = None


class JobError(BaseModel):
    type: str
    message: str


class JobUrls(BaseModel):
    get: str
    cancel: str


class JobView(BaseModel):
    id: uuid.UUID
    status: str
    model: str
    input: JobInput
    output: dict[str, Any] | None
    error: JobError | None
    webhook: str | None
    webhook_events_filter: list[str]
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    metrics: dict[str, Any] | None
    urls: JobUrls

    @classmethod
    def of(cls, job: Job | Any) -> JobView:
        """From a `Job` or a Core row of the jobs table."""
        base = f"/v1/conversations/{job.id}"
        return cls(
            id=job.id,
            status=job.status,
            model=job.model,
            input=JobInput.model_validate(job.input),
            output=job.output,
            error=JobError.model_validate(job.error) if job.error else None,
            webhook=job.webhook,
            webhook_events_filter=job.webhook_events_filter,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            metrics=job.metrics,
            urls=JobUrls(get=base, cancel=f"{base}/cancel"),
        )


def webhook_event_body(event_type: str, job: Any, now: datetime) -> dict[str, Any]:
    """A webhook's body: the event, when it happened, and the job object of the API."""
    return {"type": event_type, "timestamp": now.isoformat(), "data": JobView.of(job).model_dump(mode="json")}


class JobPage(BaseModel):
    items: list[JobView]
    next_cursor: str | None


class LegacyConversationResponse(BaseModel):
    """The body of the original synchronous `POST /conversation`."""

    response: str
    confidence: float
    processing_time: float
    metadata: dict[str, Any]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class ApiKeyCreate(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class ApiKeyView(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class ApiKeyCreated(ApiKeyView):
    key: str = Field(description="The secret; shown only in this response.")


class UserCreate(Strict):
    email: EmailStr
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)]
    role: Role = Role.user


class UserUpdate(Strict):
    role: Role | None = None
    is_active: bool | None = None


class UserView(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    is_active: bool
    created_at: datetime


class Health(BaseModel):
    status: str
    service: str = "pixelated-empathy"
    version: str


class WebhookSecretView(BaseModel):
    key: str = Field(description="Standard Webhooks signing secret of your account (whsec_...)")
    previous_valid_until: datetime | None = Field(
        default=None, description="After a rotation: until when the previous secret also signs"
    )


class WebhookAttemptView(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    duration: float
    error: str | None


class WebhookDeliveryView(BaseModel):
    id: uuid.UUID
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt")
    event: str
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    completed_at: datetime | None
    attempt_log: list[WebhookAttemptView]

    @classmethod
    def of(cls, delivery: Any, attempts: list[Any]) -> WebhookDeliveryView:
        return cls(
            id=delivery.id,
            webhook_id=f"msg_{delivery.id.hex}",
            event=delivery.event,
            url=delivery.url,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if delivery.status in ("pending", "sending") else None,
            last_status_code=delivery.last_status_code,
            created_at=delivery.created_at,
            completed_at=delivery.completed_at,
            attempt_log=[WebhookAttemptView.model_validate(a, from_attributes=True) for a in attempts],
        )
