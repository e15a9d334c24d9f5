"""Settings: the one place that reads the environment (prefix GQL_SERVICE_)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GQL_SERVICE_", extra="ignore")

    # Unset: the embedded in-process store (mongomock-motor).
    mongodb_uri: SecretStr | None = None
    mongodb_database: str = Field("service_collections", min_length=1, max_length=63)
    mongodb_timeout_ms: int = Field(5000, ge=100, le=120_000)

    jwt_secret: SecretStr | None = None
    jwks_url: HttpUrl | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(30, ge=0, le=600)
    # Where `serve` keeps the secret it creates for local use.
    secret_file: str = ".gql-service-secret"  # noqa: S105 (a path, not a secret)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: str = "INFO"
    # "json": one JSON object per line, for log shippers.
    log_format: Literal["text", "json"] = "text"
    # Unset: no tracing. An OTLP/HTTP collector, e.g. http://collector:4318.
    otel_endpoint: HttpUrl | None = None
    otel_service_name: str = Field("gql-service", min_length=1, max_length=100)

    introspection: bool = False
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # Refused before execution with QUERY_TOO_COMPLEX (see api/limits.py).
    max_query_depth: int = Field(12, ge=2, le=100)
    max_query_aliases: int = Field(30, ge=0, le=1000)
    max_query_tokens: int = Field(2000, ge=100, le=100_000)
    max_query_cost: int = Field(50_000, ge=100, le=100_000_000)
    # Token bucket per subject (per client address without a valid token),
    # per process; 0 turns the limit off.
    rate_limit_per_second: float = Field(20.0, ge=0, le=100_000)
    rate_limit_burst: int = Field(40, ge=1, le=1_000_000)
    max_bulk_resources: int = Field(1000, ge=1, le=1000)
    outbound_allow_private: bool = False
    # Signs outgoing webhooks; as long as the HMAC-SHA256 output, like jwt_secret.
    webhook_secret: SecretStr | None = Field(None, min_length=32)

    # Unset: workflows cannot send e-mail.
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Implicit TLS (usually port 465) wins when both are on: aiosmtplib
    # refuses the pair, and implicit TLS never says anything in clear text.
    smtp_starttls: bool = True
    smtp_use_tls: bool = False
    smtp_from: str = Field("gql-service@localhost", min_length=3, max_length=254)
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=300)

    max_subscriptions_per_connection: int = Field(20, ge=1, le=1000)
    subscription_queue_size: int = Field(1000, ge=1, le=100_000)
    # Legacy graphql-ws: the server sends "ka" this often to keep proxies open.
    keepalive_seconds: float = Field(15.0, gt=0, le=300)
    event_poll_seconds: float = Field(0.1, gt=0, le=10)

    # Workflows: where notifications go when an action names no target, how
    # long a runner holds a run, and how long a held promotion waits.
    notify_default_slack_url: str | None = None
    notify_default_webhook_url: str | None = None
    notify_default_email: str | None = None
    workflow_lease_seconds: float = Field(60.0, ge=5, le=3600)
    workflow_poll_seconds: float = Field(0.5, gt=0, le=60)
    promotion_approval_hours: float = Field(72.0, gt=0, le=24 * 90)
    # Starts the workflow runner in this process (off for read-only replicas).
    run_workflows: bool = True

    # Bench only (`make bench`): X-DB-Commands and X-DB-Seconds on every HTTP
    # answer, and a synthetic data set (projects x environments x collections
    # x resources, e.g. 10x4x5x50) loaded at startup with /bench/baseline.
    expose_db_metrics: bool = False
    bench_dataset: str | None = Field(None, pattern=r"^\d+x\d+x\d+x\d+$")
    # On SIGTERM: stop accepting, finish requests in flight for this long,
    # close WebSockets with 1012 (reconnect), hand workflow leases back.
    shutdown_grace_seconds: float = Field(20.0, ge=0, le=600)

    # Unset: live state, cost and drift are null and adds are not validated.
    vultr_api_key: SecretStr | None = None
    vultr_api_url: str = "https://api.vultr.com/v2"
    vultr_timeout_seconds: float = Field(10.0, gt=0, le=120)
    vultr_cache_ttl_seconds: float = Field(30.0, ge=0, le=3600)
    # Vultr answers 429 above 30 requests per second per key; stay below it.
    vultr_rate_limit_per_second: float = Field(20.0, gt=0, le=30)
    vultr_max_retries: int = Field(3, ge=0, le=10)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("otel_endpoint", mode="before")
    @classmethod
    def _blank_endpoint_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # RFC 7518 asks for a key at least as long as the HMAC output.
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("vultr_api_key")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("vultr_api_url")
    @classmethod
    def _key_stays_encrypted(cls, value: str) -> str:
        # The API key rides in a header: plain HTTP only to this machine.
        parts = urlsplit(value)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        secure = parts.scheme == "https" or (parts.scheme == "http" and loopback)
        if not secure or not parts.hostname:
            raise ValueError("must be an https URL (http only for a loopback host)")
        return value.rstrip("/")

    @property
    def uses_embedded_store(self) -> bool:
        return self.mongodb_uri is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
