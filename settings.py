"""The platform's one typed settings object, read once from the environment.

Every process (API, workers, scripts) reads its configuration here and nowhere else,
so a setting means the same thing everywhere it is used.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PLACEHOLDER_SECRETS = {"", "changethis", "changeme", "secret", "dev", "development"}

# Standard Webhooks' retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
DEFAULT_WEBHOOK_RETRY_SCHEDULE = [0.0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    ENVIRONMENT: Literal["development", "test", "production"] = "production"
    LOG_LEVEL: str = "INFO"

    DATABASE_URL: str = "sqlite:///var/pe.db"
    DB_POOL_SIZE: int = 20
    DB_CONNECT_TIMEOUT_SECONDS: float = 5.0

    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    BROKER_URL: str | None = None
    QUEUE_PREFIX: str = "pe"

    DEFAULT_MODEL: str = "empathy-minilm"
    SERVED_MODELS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    WORKER_MODELS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    WORKER_CONCURRENCY: int | None = Field(default=None, ge=1)
    METRICS_PORT: int | None = None
    MODEL_BACKENDS: dict[str, str] = Field(default_factory=dict)
    MODEL_DEVICE: str = "auto"
    MODEL_PATH: str | None = None
    MAX_NEW_TOKENS: int = 128

    JWT_SECRET_KEY: SecretStr = SecretStr("changethis")
    JWT_ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    JWT_EXPIRE_MINUTES: int = Field(default=60, ge=1)
    FIRST_SUPERUSER: str | None = None
    FIRST_SUPERUSER_PASSWORD: SecretStr | None = None

    WEBHOOK_ALLOWED_NETWORKS: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    WEBHOOK_RETRY_SCHEDULE: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_WEBHOOK_RETRY_SCHEDULE)
    )

    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_SUBMIT: str = "120/minute"
    RATE_LIMIT_READ: str = "1200/minute"
    RATE_LIMIT_LOGIN: str = "10/minute"
    TRUSTED_PROXIES: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    MAX_JOBS_IN_FLIGHT_PER_ACCOUNT: int = Field(default=1000, ge=1)
    MAX_QUEUE_DEPTH: int = Field(default=100_000, ge=1)
    MAX_BODY_BYTES: int = Field(default=64 * 1024, ge=1024)

    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0)
    WEBHOOK_SECRET_GRACE_SECONDS: float = Field(default=24 * 3600.0, ge=0)
    WEBHOOK_DISPATCH_INTERVAL_SECONDS: float = Field(default=2.0, gt=0)
    WEBHOOK_WORKER_CONCURRENCY: int = Field(default=16, ge=1)
    WORKER_ROLE: Literal["models", "webhooks"] = "models"

    API_PORT: int = 8000
    FLOWER_PORT: int = 5555
    FLOWER_BASIC_AUTH: SecretStr | None = None

    MAX_ATTEMPTS: int = Field(default=3, ge=1)
    JOB_LEASE_SECONDS: float = Field(default=300.0, gt=0)
    LONG_POLL_MAX_SECONDS: float = 60.0
    SYNC_TIMEOUT_SECONDS: float = 30.0
    IDEMPOTENCY_TTL_SECONDS: float = 24 * 3600.0
    SWEEP_INTERVAL_SECONDS: float = 15.0
    QUEUED_STALE_SECONDS: float = 60.0
    MAX_BATCH_SIZE: int = Field(default=32, ge=1)
    JOB_TIME_LIMIT_SECONDS: float = Field(default=600.0, gt=0)
    MODEL_TIME_LIMITS: dict[str, float] = Field(default_factory=dict)
    HARD_TIME_LIMIT_GRACE_SECONDS: float = Field(default=30.0, ge=0)
    DB_RETRY_SECONDS: float = Field(default=300.0, ge=0)
    RESULT_RETENTION_SECONDS: float | None = Field(default=30 * 24 * 3600.0, gt=0)

    @field_validator(
        "SERVED_MODELS",
        "WORKER_MODELS",
        "WEBHOOK_ALLOWED_NETWORKS",
        "WEBHOOK_RETRY_SCHEDULE",
        "TRUSTED_PROXIES",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_commas(value)

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        secret = self.JWT_SECRET_KEY.get_secret_value()
        weak = secret.lower() in PLACEHOLDER_SECRETS or len(secret.encode()) < 32
        if weak and self.ENVIRONMENT != "development":
            raise ValueError(
                "JWT_SECRET_KEY is a placeholder or shorter than 32 bytes; "
                "set a random one (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if weak:
            logging.getLogger(__name__).warning("JWT_SECRET_KEY is weak: acceptable only for development")
        return self

    @field_validator("RATE_LIMIT_SUBMIT", "RATE_LIMIT_READ", "RATE_LIMIT_LOGIN")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value)  # raises ValueError unless e.g. "120/minute" or "10/second;1000/hour"
        return value

    @property
    def served_models(self) -> list[str]:
        """The models this deployment accepts jobs for: the default one unless listed."""
        return self.SERVED_MODELS or [self.DEFAULT_MODEL]

    @property
    def worker_models(self) -> list[str]:
        """The models a worker process loads and consumes jobs for."""
        return self.WORKER_MODELS or self.served_models

    @property
    def worker_concurrency(self) -> int:
        """Task threads of a model worker: enough for a full batch running and the next filling."""
        return self.WORKER_CONCURRENCY or 2 * self.MAX_BATCH_SIZE

    @property
    def broker_url(self) -> str:
        return self.BROKER_URL or self.REDIS_URL


@lru_cache
def get_settings() -> Settings:
    return Settings()
