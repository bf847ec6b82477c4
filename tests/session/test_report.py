"""The HTML report, rendered by headless Chromium: the plots are there and drawn."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from gaitcoach.session.advice import AdviceBook
from gaitcoach.session.history import session_summary
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.report import PLOTS, render_html
from gaitcoach.session.store import SessionStore
from gaitcoach.types import CueKind
from tests.session import factory
from tests.support import CHROMIUM_FLAGS, require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    base = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120)


def test_html_report_renders_with_plots(tmp_path: Path) -> None:
    require(Path(CHROMIUM).exists(), "chromium is not installed (./run test installs it)")
    data_dir = tmp_path / "data"
    strides = factory.strides(factory.OVERSTRIDER, 12.0)
    with Recorder(data_dir) as rec:
        for s in strides:
            rec.add_stride(s)
        rec.add_cue(factory.cue(CueKind.CADENCE, 120.0, {"cadence_spm": 154.0}))
        rec.add_cue(factory.cue(CueKind.STRIDE, 300.0, {"overstride_m": 0.38}, n=1))
        rec.add_discomfort(factory.discomfort(500.0, 4, "right shin"))
    with SessionStore(data_dir) as store:
        data, summary = session_summary(store, "latest", AdviceBook.load())
    page = tmp_path / "report.html"
    page.write_text(render_html(data, summary), encoding="utf-8")
    text = page.read_text()
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r"""(src|href)=['"](?!data:)""", text)

    dom = chromium(["--dump-dom", page.as_uri()], tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in PLOTS:
        assert re.search(
            rf"<img [^>]*id=\"plot-{name}\"[^>]*src=\"data:image/png;base64,", dom.stdout
        )
    assert "Technique: quicker, shorter steps" in dom.stdout
    assert "right shin 4/10" in dom.stdout and "not a medical diagnosis" in dom.stdout

    shot = tmp_path / "report.png"
    res = chromium(
        ["--hide-scrollbars", "--window-size=1000,4000", f"--screenshot={shot}", page.as_uri()],
        tmp_path / "p2",
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert px.shape[0] >= 3000

    def near(rgb: tuple[int, int, int]) -> int:
        return int((np.abs(px - np.array(rgb)).sum(axis=2) < 40).sum())

    # The plot colours are on screen: the cadence median line (blue), the right foot's
    # contact time (red) and the target band (pale green).
    assert near((31, 119, 180)) > 300
    assert near((214, 39, 40)) > 100
    assert near((212, 234, 212)) > 1000
