"""Composition root of the reports service: read models, the request consumer, the render worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.reports.handlers import add_request_consumer
from services.reports.jobs import ReportQueue
from services.reports.projections import reports_projections
from shared.job_service import job_service_app

if TYPE_CHECKING:
    from litestar import Litestar

    from shared.settings import Settings

__all__ = ("create_app",)


def create_app(settings: Settings) -> Litestar:
    """The reports service: health, readiness and metrics over HTTP; the work happens behind."""
    return job_service_app(
        "reports",
        settings,
        projections=reports_projections,
        make_queue=ReportQueue,
        add_job_consumer=add_request_consumer,
    )
