"""The services `vigil serve` can run and `vigil up` starts: name -> app factory.

Adding a service is one line here: its name and the import path of a
``create_app(settings: Settings) -> Litestar`` factory.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar import Litestar

    from shared.settings import Settings

__all__ = ("GATEWAY", "SERVICES", "load_app_factory")


SERVICES: dict[str, str] = {
    "api": "services.api.app:create_app",
    "ingest": "services.ingest.app:create_app",
    "reports": "services.reports.app:create_app",
    "stats": "services.stats.app:create_app",
    "triggers": "services.triggers.app:create_app",
}
"""Every runnable service, in start order; `vigil up` runs one or more replicas of each."""

GATEWAY = "api"
"""The service clients talk to: it listens on ``--port`` (8000) and the following ports."""


def load_app_factory(service: str) -> Callable[[Settings], Litestar]:
    """Import the app factory of `service` (a key of `SERVICES`)."""
    module, _, name = SERVICES[service].partition(":")
    return cast("Callable[[Settings], Litestar]", getattr(importlib.import_module(module), name))
