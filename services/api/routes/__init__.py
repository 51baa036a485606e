"""One controller per resource; each route validates, calls one function, shapes the answer."""

from services.api.routes.events import EventController
from services.api.routes.stream import stream_events
from services.api.routes.workspaces import WorkspaceController

__all__ = ("EventController", "WorkspaceController", "route_handlers")

route_handlers = (WorkspaceController, EventController, stream_events)
