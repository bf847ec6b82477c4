"""Restart after a crash: `gaitcoach run` killed with SIGKILL leaves both pods connected in
BlueZ to a client that is gone (they stop advertising); the next `gaitcoach run` finds them
through BlueZ's object manager, releases them and streams again. Real parts: virtual pods
behind the virtual BlueZ, bleak, Mosquitto, the service as a process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gaitcoach.demo import demo_stack
from gaitcoach.mqtt.mosquitto import mosquitto_available
from gaitcoach.session import SessionStatus, SessionStore
from tests.support import gait_engine_ready, require

STREAMING = re.compile(r"foot=(left|right) msg=\"link address=\S+ state=streaming")

pytestmark = [pytest.mark.usefixtures(gait_engine_ready.__name__), pytest.mark.underload]


@pytest.fixture(autouse=True)
def _prerequisites() -> None:
    require(mosquitto_available(), "mosquitto is not installed (./run test installs it)")


def _wait_streaming(log: Path, proc: subprocess.Popen[str], timeout_s: float) -> float:
    """Wall time at which both feet were streaming (per the service's log)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        if {m.group(1) for m in STREAMING.finditer(log.read_text())} == {"left", "right"}:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"not streaming within {timeout_s} s:\n{log.read_text()[-3000:]}")


def _wait_for_line(log: Path, needle: str, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while needle not in log.read_text():
        assert time.monotonic() < deadline, f"no {needle!r}:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)
    return time.monotonic()


def _wait_strides(data: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (data / "sessions.sqlite").exists():
            with SessionStore(data) as store:
                sessions = store.list_sessions()
            if sessions and sessions[-1].n_strides > 10:
                return
        time.sleep(0.2)
    raise AssertionError("no strides recorded")


def test_restart_after_kill_9_streams_again(tmp_path: Path) -> None:
    speed = 4.0
    with demo_stack(
        "efficient-midfoot", 600 / speed, speed, 0.0, seed=7, runner="kim", work=tmp_path / "w"
    ) as st:
        data = tmp_path / "data"
        cfg = tmp_path / "gaitcoach.toml"
        cfg.write_text(
            f'[runner]\nid = "kim"\nheight_m = 1.70\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {st.port}\nembedded = "never"\n'
            f'[link]\ntime_scale = {speed}\npods = [{{side = "left"}}, {{side = "right"}}]\n'
            f'[session]\ndata_dir = "{data}"\n[service]\nlog_level = "info"\n'
        )
        argv = [sys.executable, "-m", "gaitcoach", "run", "--quiet", "--config", str(cfg)]
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        first = subprocess.Popen(argv, env=st.env, stderr=logs[0].open("w"), text=True)
        try:
            _wait_streaming(logs[0], first, 120.0)
            _wait_strides(data, 120.0)
            first.kill()  # SIGKILL: no clean-up of any kind
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        second = subprocess.Popen(
            argv, env=st.env, stdout=subprocess.PIPE, stderr=logs[1].open("w"), text=True
        )
        try:
            scanning = _wait_for_line(logs[1], "state=scanning", 120.0)
            streaming = _wait_streaming(logs[1], second, 60.0)
            text = logs[1].read_text()
            assert "released pods left connected by an earlier run" in text
            # The kernels are ready before any pod is looked for.
            assert text.index("gait engine ready") < text.index("state=scanning")
            with SessionStore(data) as store:
                during = store.list_sessions()
            _wait_strides(data, 120.0)  # the new session records strides
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=120)
        finally:
            if second.poll() is None:
                second.kill()
        assert second.returncode == 0, logs[1].read_text()[-3000:]
    # Once it looks for the pods it finds them at once (it used to scan forever).
    assert streaming - scanning < 10.0, streaming - scanning
    assert [s.status for s in during] == [SessionStatus.INTERRUPTED, SessionStatus.RECORDING]
    with SessionStore(data) as store:
        after = store.list_sessions()
    assert [s.status for s in after] == [SessionStatus.INTERRUPTED, SessionStatus.COMPLETE]
    assert after[0].n_strides > 10 and after[1].n_strides > 0
