import ipaddress

import pytest
from pydantic import ValidationError

from settings import Settings


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    """These tests read defaults: hide whatever the suite or the shell exported."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("secret", ["changethis", "short-but-not-placeholder", ""])
def test_production_refuses_weak_jwt_secrets(secret):
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
        Settings(ENVIRONMENT="production", JWT_SECRET_KEY=secret)


def test_development_accepts_the_placeholder():
    assert Settings(ENVIRONMENT="development").JWT_SECRET_KEY.get_secret_value() == "changethis"


def test_lists_are_comma_separated_in_the_environment(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("SERVED_MODELS", "empathy-minilm, causal-lm")
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "0,1,2.5")
    settings = Settings()
    assert settings.served_models == ["empathy-minilm", "causal-lm"]
    assert [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")] == settings.WEBHOOK_ALLOWED_NETWORKS
    assert settings.WEBHOOK_RETRY_SCHEDULE == [0, 1, 2.5]


def test_defaults_follow_the_design():
    settings = Settings(ENVIRONMENT="development")
    assert settings.served_models == ["empathy-minilm"] == settings.worker_models
    assert settings.API_PORT == 8000 and settings.FLOWER_PORT == 5555
    assert settings.WEBHOOK_RETRY_SCHEDULE[:3] == [0, 5, 300]
    assert settings.broker_url == settings.REDIS_URL


@pytest.mark.parametrize("environment", ["test", "production"])
def test_weak_secrets_are_refused_outside_development(environment):
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
        Settings(ENVIRONMENT=environment)
    assert environment == Settings(ENVIRONMENT=environment, JWT_SECRET_KEY="k" * 32).ENVIRONMENT


def test_rate_limits_must_parse():
    with pytest.raises(ValidationError, match="RATE_LIMIT_READ"):
        Settings(ENVIRONMENT="development", RATE_LIMIT_READ="lots")
