"""A recorded run through the real pipeline minus the radio: the simulated pods' int16
samples are packed into footpod-profile notifications (``gaitcoach.footpod.codec``, as the
virtual pod firmware sends them), and each notification goes, with its host arrival time,
through the link's decoder and clock (``gaitcoach.link.tracker.ImuTracker``) -> host-timed
``ImuChunk``/``Gap`` -> the service's ``Pipeline`` (gait engine and coach) -> recorder, both
feet interleaved as they arrive, with the configuration recorded as the service records it.

Run as a child process (``python -m tests.session.pipeline DATA_DIR PROFILE MINUTES SEED``)
for the kill -9 test: after each item it prints ``chunk|stride SEQ MONOTONIC_S`` once the
recorder has accepted it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import numpy as np

from firmware_sim.profiles import get_profile
from firmware_sim.simulation import Simulation
from gaitcoach.footpod.codec import ImuFormat, encode_imu_packet
from gaitcoach.link.tracker import ImuTracker
from gaitcoach.service.config import ServiceConfig, config_record
from gaitcoach.service.pipeline import Pipeline
from gaitcoach.session.recorder import ImuScale, Recorder
from gaitcoach.types import Foot, Gap, ImuChunk, StrideRecord

FEET = (Foot.LEFT, Foot.RIGHT)
PACKET_SAMPLES = 13
"""Samples per notification: 12 + 13 x 12 bytes fit an ATT MTU of 247 (16 per second at 208 Hz)."""
LATENCY_S = 0.004
"""Host arrival of a notification after its last sample (a fixed radio and stack delay)."""


def simulation(profile: str, minutes: float, seed: int, rate_hz: float = 208.0) -> Simulation:
    prof = replace(get_profile(profile).with_minutes(minutes), name=profile)
    return Simulation(prof, seed, rate_hz)


def imu_format(sim: Simulation) -> ImuFormat:
    spec = sim.config.imu
    return ImuFormat(int(sim.config.rate_hz), int(spec.acc_range_g), int(spec.gyr_range_dps))


def stream(
    sim: Simulation, minutes: float, samples: int = PACKET_SAMPLES
) -> Iterator[ImuChunk | Gap]:
    """What the link hands the engine, both pods alternating, up to ``minutes`` of data."""
    fmt = imu_format(sim)
    pods = {f: sim.pod(f) for f in FEET}
    trackers = {f: ImuTracker(f) for f in FEET}
    n_total = int(minutes * 60.0 * sim.config.rate_hz)
    done = seq = 0
    while done < n_total:
        n = min(samples, n_total - done)
        for foot, pod in pods.items():
            s = pod.read(n)
            counts = np.hstack([s.acc_counts, s.gyr_counts])
            t_first_us = round(float(s.t_sensor_s[0]) * 1e6)
            packet = encode_imu_packet(seq, t_first_us, fmt, counts)
            yield from trackers[foot].push(packet, float(s.t_true_s[-1]) + LATENCY_S)
        done += n
        seq += 1


def scales(sim: Simulation) -> dict[Foot, ImuScale]:
    fmt = imu_format(sim)
    return {f: ImuScale(fmt.acc_lsb_mps2, fmt.gyr_lsb_radps) for f in FEET}


def run_session(
    data_dir: Path,
    profile: str,
    minutes: float,
    seed: int,
    log: TextIO | None = None,
    config: ServiceConfig | None = None,
) -> tuple[str, list[StrideRecord]]:
    """Record a whole simulated run; returns the session id and the live strides."""
    sim = simulation(profile, minutes, seed)
    config = config or ServiceConfig()
    pipeline = Pipeline(config)
    live: list[StrideRecord] = []
    rejected: list[str] = []
    sim_info = {"profile": profile, "minutes": minutes, "seed": seed}
    record = {**config_record(config), "sim": sim_info}
    leg = config.runner.leg_length_or_estimate_m
    # The recorder's default flush interval (0.5 s), as the service uses it.
    with Recorder(data_dir, config=record, scales=scales(sim), leg_length_m=leg) as rec:
        if log is not None:
            print(f"session {rec.session_id}", file=log, flush=True)
        chunk_no = 0
        for item in stream(sim, minutes):
            if isinstance(item, Gap):
                rec.add_gap(item)
            else:
                rec.add_chunk(item)
                if log is not None:
                    print(f"chunk {chunk_no} {time.monotonic():.6f}", file=log, flush=True)
                chunk_no += 1
            try:
                out = pipeline.on_gap(item) if isinstance(item, Gap) else pipeline.on_chunk(item)
            except ValueError as exc:
                # As the service does: the engine refused this chunk; count it and go on.
                rejected.append(str(exc))
                continue
            for s in out.strides:
                rec.add_stride(s)
                live.append(s)
                if log is not None:
                    print(f"stride {len(live) - 1} {time.monotonic():.6f}", file=log, flush=True)
        try:
            last = pipeline.finish().strides
        except ValueError as exc:
            rejected.append(str(exc))
            last = []
        for s in last:
            rec.add_stride(s)
            live.append(s)
        if rejected and log is not None:
            print(f"rejected {len(rejected)} {rejected[0]}", file=log, flush=True)
        return rec.session_id, live


def main(argv: list[str]) -> int:
    data_dir, profile, minutes, seed = argv
    run_session(Path(data_dir), profile, float(minutes), int(seed), log=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
