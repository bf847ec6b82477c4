"""The live dashboard: a static page (``web/src``, built into ``gaitcoach/dashboard/www`` by
``./run``) served by a small server in ``gaitcoach run`` (``[dashboard]``); the page talks MQTT
over WebSockets to the broker's websockets listener. docs/dashboard.md."""

from gaitcoach.dashboard.config import DashboardSettings
from gaitcoach.dashboard.server import (
    WWW,
    DashboardError,
    DashboardServer,
    dashboard_server,
    page_url,
)

__all__ = [
    "WWW",
    "DashboardError",
    "DashboardServer",
    "DashboardSettings",
    "dashboard_server",
    "page_url",
]
