"""Configuration, command-line parsing and process hygiene (no BLE traffic)."""

from __future__ import annotations

import os
import shutil

import pytest

from firmware_sim.__main__ import main as sim_main
from firmware_sim.bluez.daemon import PrivateBus
from firmware_sim.serve import Fault, PodSpec, parse_fault, parse_pods, pod_address
from gaitcoach.cli import main as gaitcoach_main
from gaitcoach.errors import ConfigError
from gaitcoach.footpod.profile import PodKind
from gaitcoach.link import FoundPod, LinkConfig, PodSelector
from gaitcoach.types import Foot
from tests.support import require


def test_link_config_rejects_bad_values_with_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"link\.rate_hz = 100"):
        LinkConfig.from_dict({"rate_hz": 100})
    with pytest.raises(ConfigError, match=r"link\.time_scale"):
        LinkConfig.from_dict({"time_scale": 0})
    with pytest.raises(ConfigError, match=r"link\.pods ="):
        LinkConfig.from_dict({"pods": []})
    with pytest.raises(ConfigError, match=r"link\.pods\[\]"):
        PodSelector()
    assert LinkConfig(rate_hz=416, acc_range_g=8).imu_format.acc_range_g == 8


def test_selectors_pick_by_address_name_or_side() -> None:
    pod = FoundPod("D0:0D:01:01:00:00", "GaitPod L", PodKind.FOOTPOD, Foot.LEFT, -60, 80)
    assert PodSelector(address="d0:0d:01:01:00:00").matches(pod)
    assert PodSelector(name="GaitPod L").matches(pod)
    assert PodSelector(side=Foot.LEFT).matches(pod)
    assert not PodSelector(side=Foot.RIGHT).matches(pod)
    assert not PodSelector(address="D0:0D:01:01:00:00", side=Foot.RIGHT).matches(pod)
    assert PodSelector(address="x", foot=Foot.RIGHT).resolve_foot(Foot.UNKNOWN) is Foot.RIGHT
    assert PodSelector(address="x", foot=Foot.RIGHT).resolve_foot(Foot.LEFT) is Foot.LEFT


def test_serve_arguments() -> None:
    specs = parse_pods("left, rsc:right,movesense:unknown")
    assert specs == [
        PodSpec(PodKind.FOOTPOD, Foot.LEFT),
        PodSpec(PodKind.RSC, Foot.RIGHT),
        PodSpec(PodKind.MOVESENSE, Foot.UNKNOWN),
    ]
    assert len({pod_address(s, i) for i, s in enumerate(specs)}) == 3
    assert parse_fault("left:dropout@30+5") == Fault("left", "dropout", "", 30.0, 5.0)
    assert parse_fault("1:malformed=garbage*3@2") == Fault("1", "malformed", "garbage*3", 2.0, 0.0)
    for bad in ("left:explode@3", "dropout", "left:loss=@"):
        with pytest.raises(ValueError, match="--fault"):
            parse_fault(bad)
    with pytest.raises(ValueError, match="--pods"):
        parse_pods("middle")
    assert sim_main(["serve", "--pods", "left,middle"]) == 2
    assert sim_main(["serve", "--speed", "0", "--duration", "0.1"]) == 2


def test_scan_without_bluez_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    assert gaitcoach_main(["scan", "--timeout", "0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gaitcoach: scan failed") and "\n" not in err


def test_private_bus_is_removed_on_exit() -> None:
    require(shutil.which("dbus-daemon") is not None, "dbus-daemon is not installed")
    with PrivateBus() as bus:
        pid = bus.pid
        assert pid is not None and os.path.exists(f"/proc/{pid}")
        assert bus.socket.exists()
        directory = bus.dir
    assert not directory.exists()
    assert not os.path.exists(f"/proc/{pid}"), "dbus-daemon still running"
