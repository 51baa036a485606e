"""Configuration from the environment, the same for every service and the CLI.

Every setting has a sane default for a laptop; a cluster sets ``VIGIL_*``
variables and changes no code.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

__all__ = ("Settings",)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "") or default


_DEFAULT_SLA_DAYS = "critical=7,high=30,medium=90,low=180"


def _sla_days(text: str) -> dict[str, int]:
    """Parse ``severity=days,...`` (``VIGIL_SLA_DAYS``); a severity left out has no SLA."""
    days: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        severity, _, value = part.partition("=")
        try:
            days[severity.strip().lower()] = int(value)
        except ValueError:
            raise ValueError(
                f"VIGIL_SLA_DAYS: {part!r} is not severity=days (e.g. {_DEFAULT_SLA_DAYS})"
            ) from None
    return days


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """What a vigil process needs to know about its surroundings.

    `nats_url` and `database_url` are None when the environment names no
    servers: the process then uses the embedded ones found under `state_dir`.
    """

    nats_url: str | None = None
    database_url: str | None = None
    state_dir: Path = Path(".vigil")
    stream_name: str = "EVENTS"
    stream_replicas: int = 1
    """Replicas of the events stream when vigil creates it (``VIGIL_STREAM_REPLICAS``; 3 on a
    3-node JetStream cluster)."""
    subject_prefix: str = "vigil.evt"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_format: str = "auto"
    log_level: str = "info"
    otel_exporter: str = "none"
    service_name: str = "vigil"
    max_upload_bytes: int = 512 * 1024 * 1024
    """Largest scan file accepted into the object store (``VIGIL_MAX_UPLOAD_BYTES``)."""
    sla_days: dict[str, int] = msgspec.field(default_factory=lambda: _sla_days(_DEFAULT_SLA_DAYS))
    """Days to remediate an open finding, per severity (``VIGIL_SLA_DAYS``)."""

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``VIGIL_*`` variables; unset or empty ones keep their defaults."""
        return cls(
            nats_url=os.environ.get("VIGIL_NATS_URL") or None,
            database_url=os.environ.get("VIGIL_DATABASE_URL") or None,
            state_dir=Path(_env("VIGIL_STATE_DIR", ".vigil")),
            stream_name=_env("VIGIL_STREAM_NAME", "EVENTS"),
            stream_replicas=int(_env("VIGIL_STREAM_REPLICAS", "1")),
            subject_prefix=_env("VIGIL_SUBJECT_PREFIX", "vigil.evt"),
            http_host=_env("VIGIL_HTTP_HOST", "127.0.0.1"),
            http_port=int(_env("VIGIL_HTTP_PORT", "8000")),
            log_format=_env("VIGIL_LOG_FORMAT", "auto"),
            log_level=_env("VIGIL_LOG_LEVEL", "info"),
            otel_exporter=_env("VIGIL_OTEL_EXPORTER", "none"),
            service_name=_env("VIGIL_SERVICE_NAME", "vigil"),
            max_upload_bytes=int(_env("VIGIL_MAX_UPLOAD_BYTES", str(512 * 1024 * 1024))),
            sla_days=_sla_days(_env("VIGIL_SLA_DAYS", _DEFAULT_SLA_DAYS)),
        )

    def with_servers(self, nats_url: str, database_url: str) -> Settings:
        """These settings, pointed at the given servers."""
        return msgspec.structs.replace(self, nats_url=nats_url, database_url=database_url)
