"""One controller per resource; each route validates, calls one function, shapes the answer."""

from services.api.routes.assets import AssetController
from services.api.routes.events import EventController
from services.api.routes.findings import FindingController
from services.api.routes.reports import ReportController
from services.api.routes.scans import ScanController
from services.api.routes.stats import StatsController
from services.api.routes.stream import stream_events
from services.api.routes.timetravel import TimeTravelController
from services.api.routes.triggers import TriggerController
from services.api.routes.workspaces import WorkspaceController

__all__ = (
    "AssetController",
    "EventController",
    "FindingController",
    "ReportController",
    "ScanController",
    "StatsController",
    "TimeTravelController",
    "TriggerController",
    "WorkspaceController",
    "route_handlers",
)

route_handlers = (
    WorkspaceController,
    EventController,
    stream_events,
    ScanController,
    FindingController,
    AssetController,
    StatsController,
    TriggerController,
    TimeTravelController,
    ReportController,
)
