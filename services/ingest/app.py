"""Composition root of the ingest service: read models, the upload consumer, the import worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.ingest.handlers import add_upload_consumer
from services.ingest.jobs import ImportQueue
from services.ingest.projections import ingest_projections
from shared.job_service import job_service_app

if TYPE_CHECKING:
    from litestar import Litestar

    from shared.settings import Settings

__all__ = ("create_app",)


def create_app(settings: Settings) -> Litestar:
    """The ingest service: health, readiness and metrics over HTTP; the work happens behind."""
    return job_service_app(
        "ingest",
        settings,
        projections=ingest_projections,
        make_queue=ImportQueue,
        add_job_consumer=add_upload_consumer,
    )
