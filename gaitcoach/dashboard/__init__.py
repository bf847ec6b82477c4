"""The live dashboard: a static page (``web/src``, built into ``gaitcoach/dashboard/www`` by
``./run``) that Mosquitto's websockets listener serves (``http_dir``) and that talks MQTT over
WebSockets to the same listener. docs/dashboard.md."""

from gaitcoach.dashboard.config import DashboardSettings
from gaitcoach.dashboard.install import WWW, DashboardError, install_page, page_url

__all__ = ["WWW", "DashboardError", "DashboardSettings", "install_page", "page_url"]
