"""Put the built page where the broker serves it."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from gaitcoach.dashboard.config import DashboardSettings
from gaitcoach.safepath import write_bytes_inside

WWW = Path(__file__).resolve().parent / "www"
"""The built page (``./run`` builds it from web/ with the pinned npm packages)."""
MANIFEST = "manifest.json"


class DashboardError(RuntimeError):
    """The page is not built, or cannot be put in place."""


def page_files(www: Path = WWW) -> list[str]:
    """The files of the built page (relative paths), from its manifest."""
    try:
        manifest = json.loads((www / MANIFEST).read_text())
    except (OSError, ValueError):
        raise DashboardError(
            f"the dashboard is not built ({www / MANIFEST} missing): ./run setup builds it "
            "(Node.js and npm are needed)"
        ) from None
    return [*manifest["files"], MANIFEST]


def install_page(http_dir: Path | str, www: Path = WWW) -> list[Path]:
    """Copy the page into ``http_dir`` (created if missing), each file written atomically
    and kept inside the folder (:mod:`gaitcoach.safepath`); returns the files written."""
    root = Path(http_dir)
    written = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name in page_files(www):
            path = write_bytes_inside(root, (name,), (www / name).read_bytes())
            path.chmod(0o644)  # the broker may run as another user (mosquitto)
            written.append(path)
    except (OSError, ValueError) as exc:
        raise DashboardError(f"cannot put the dashboard into {root}: {exc}") from None
    return written


def page_url(base: str, runner: str, page: str = "") -> str:
    """The runner's page (``?runner=``) or the coach's view (``page='coach.html'``)."""
    base = base if base.endswith("/") else base + "/"
    return f"{base}{page}?runner={quote(runner)}" if not page else f"{base}{page}"


def enable(settings: DashboardSettings, runner: str) -> str | None:
    """``gaitcoach run`` with ``[dashboard] enabled``: put the page in place; returns the line
    to print (the runner's page and the coach's view), or None when the dashboard is off."""
    if not settings.enabled:
        return None
    install_page(settings.http_dir)
    if not settings.url:
        return (
            f"dashboard: page put into {settings.http_dir} (open it at the broker's "
            f"websockets listener, ?runner={runner})"
        )
    return (
        f"dashboard: {page_url(settings.url, runner)}  "
        f"(coach's view: {page_url(settings.url, runner, 'coach.html')})"
    )
