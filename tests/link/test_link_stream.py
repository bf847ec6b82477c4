"""bleak's real BlueZ backend against virtual pods: complete, exact streaming."""

from __future__ import annotations

import numpy as np

from firmware_sim.bluez.daemon import PrivateBus
from firmware_sim.pods.streams import counter_counts
from gaitcoach.footpod.profile import acc_lsb_mps2, gyr_lsb_radps
from gaitcoach.link import FootpodLink
from gaitcoach.types import Foot
from tests.link.harness import collect, fast_config, n_samples, private_bus, serve

__all__ = ["private_bus"]

RATE = 208
SPEED = 10.0


def check_exact(
    rec, foot: Foot, h0: float, speed: float, tol_s: float, rate_hz: int = RATE
) -> np.ndarray:
    """Every sample once, in order, with the right values and timestamps; returns indices."""
    t, acc, gyr = rec.samples(foot)
    idx = rec.indices(foot)
    assert np.all(np.diff(idx) == 1), "samples missing, repeated or out of order"
    want_acc, want_gyr = counter_counts(idx, foot)
    np.testing.assert_allclose(acc, want_acc * acc_lsb_mps2(16), rtol=0, atol=1e-9)
    np.testing.assert_allclose(gyr, want_gyr * gyr_lsb_radps(2000), rtol=0, atol=1e-12)
    assert np.all(np.diff(t) > 0)
    truth = h0 * speed + idx / rate_hz
    err = t - truth
    assert np.max(np.abs(err)) < tol_s, f"timestamp error up to {np.max(np.abs(err)) * 1e3:.2f} ms"
    return idx


async def test_two_pods_60s_every_sample_once_in_order(private_bus: PrivateBus) -> None:
    # 60 s of stream time at 10x speed, with an 80 ppm sensor clock drift to estimate.
    async with serve(private_bus, "--speed", str(SPEED), "--drift-ppm", "80") as sim:
        h0_left, _, _ = await sim.pod(0).truth()
        h0_right, _, _ = await sim.pod(1).truth()
        async with FootpodLink(fast_config(SPEED)) as link:
            want = 60 * RATE
            rec = await collect(
                link,
                lambda r: n_samples(r, Foot.LEFT) >= want and n_samples(r, Foot.RIGHT) >= want,
                timeout_s=60 / SPEED + 20,
            )
            status = link.status()
    for foot, h0 in ((Foot.LEFT, h0_left), (Foot.RIGHT, h0_right)):
        assert n_samples(rec, foot) >= want
        # Timestamps in true seconds: 3 ms of host time is 3 ms x SPEED of stream time (see
        # TOL_S in test_link_faults.py).
        check_exact(rec, foot, h0, SPEED, tol_s=3e-3 * SPEED)
        assert not rec.gaps.get(foot)
    for s in status:
        assert s.counters.malformed == 0 and s.counters.duplicates == 0
        assert s.counters.lost_samples == 0
        assert s.battery_pct == 90
