"""Deterministic inputs for session tests: stride sequences with known parameters and raw
chunks made of int16 counts times an LSB (what decoded pod packets are)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitcoach.types import (
    Activity,
    Cue,
    CueKind,
    DiscomfortReport,
    Foot,
    ImuChunk,
    StrideRecord,
    classify_strike,
)

ACC_LSB = 9.80665 / 2048.0  # +-16 g
GYR_LSB = np.deg2rad(2000.0) / 32768.0  # +-2000 dps


@dataclass(frozen=True)
class Runner:
    """Stride parameters at the start of the run and their change by the end (fatigue)."""

    cadence_spm: float = 176.0
    stride_length_m: float = 2.6
    contact_time_s: float = 0.24
    strike_angle_deg: float = 2.0
    overstride_m: float = 0.20
    peak_impact_g: float = 6.0
    cadence_drift_pct: float = 0.0
    overstride_drift_m: float = 0.0
    contact_drift_pct: float = 0.0
    strike_drift_deg: float = 0.0
    right_contact_extra_s: float = 0.0
    noise: float = 0.01


EFFICIENT = Runner()
OVERSTRIDER = Runner(
    cadence_spm=154.0,
    stride_length_m=2.9,
    contact_time_s=0.29,
    strike_angle_deg=18.0,
    overstride_m=0.38,
    peak_impact_g=9.0,
)
FATIGUING = Runner(
    cadence_drift_pct=-6.0,
    overstride_drift_m=0.13,
    contact_drift_pct=10.0,
    strike_drift_deg=9.0,
)


def strides(runner: Runner, minutes: float, seed: int = 0, t0_s: float = 0.0) -> list[StrideRecord]:
    """Alternating left/right strides, in the order a gait engine emits them (by end time)."""
    rng = np.random.default_rng(seed)
    out: list[StrideRecord] = []
    t = t0_s
    idx = {Foot.LEFT: 0, Foot.RIGHT: 0}
    duration = minutes * 60.0
    step = 0
    while t - t0_s < duration:
        frac = (t - t0_s) / duration
        cad = runner.cadence_spm * (1 + runner.cadence_drift_pct / 100 * frac)
        cad *= 1 + runner.noise * rng.standard_normal()
        step_time = 60.0 / cad
        foot = Foot.LEFT if step % 2 == 0 else Foot.RIGHT
        contact = runner.contact_time_s * (1 + runner.contact_drift_pct / 100 * frac)
        contact *= 1 + runner.noise * rng.standard_normal()
        if foot is Foot.RIGHT:
            contact += runner.right_contact_extra_s
        stride_time = 2 * step_time
        speed = runner.stride_length_m / (2 * 60.0 / runner.cadence_spm)
        stride_len = speed * stride_time * (1 + runner.noise * rng.standard_normal())
        angle = runner.strike_angle_deg + runner.strike_drift_deg * frac + rng.normal(0, 1.0)
        over = runner.overstride_m + runner.overstride_drift_m * frac + rng.normal(0, 0.01)
        ic = t
        out.append(
            StrideRecord(
                foot=foot,
                index=idx[foot],
                ic_s=ic,
                to_s=ic + contact,
                end_ic_s=ic + stride_time,
                contact_time_s=contact,
                swing_time_s=stride_time - contact,
                stride_time_s=stride_time,
                cadence_spm=cad,
                activity=Activity.RUNNING,
                flight_time_s=step_time - contact,
                step_time_s=step_time,
                stride_length_m=stride_len,
                speed_mps=stride_len / stride_time,
                clearance_m=0.12,
                foot_strike_angle_deg=angle,
                strike_pattern=classify_strike(angle),
                peak_impact_g=runner.peak_impact_g * (1 + runner.noise * rng.standard_normal()),
                loading_rate_gps=runner.peak_impact_g / 0.03,
                overstride_m=over,
            )
        )
        idx[foot] += 1
        t += step_time
        step += 1
    out.sort(key=lambda s: s.end_ic_s)
    return out


def chunk(
    foot: Foot, t0_s: float, n: int, rate_hz: float = 208.0, seed: int = 0, jitter_s: float = 0.0
) -> ImuChunk:
    """``n`` samples of int16 counts times the LSBs, like a decoded pod packet."""
    rng = np.random.default_rng(seed)
    t = t0_s + np.arange(n) / rate_hz
    if jitter_s:
        t = t + rng.uniform(0, jitter_s, n)
    phase = 2 * np.pi * 1.45 * t
    acc = np.stack([3000 * np.sin(phase), 500 * np.cos(phase), 2048 + 4000 * np.sin(2 * phase)], 1)
    gyr = np.stack([800 * np.sin(phase), 6000 * np.cos(phase), 300 * np.sin(3 * phase)], 1)
    acc_counts = np.clip(acc + rng.normal(0, 8, acc.shape), -32768, 32767).astype(np.int16)
    gyr_counts = np.clip(gyr + rng.normal(0, 8, gyr.shape), -32768, 32767).astype(np.int16)
    return ImuChunk(
        foot=foot,
        t_s=t,
        acc_mps2=acc_counts.astype(np.float64) * ACC_LSB,
        gyr_radps=gyr_counts.astype(np.float64) * GYR_LSB,
    )


def cue(kind: CueKind, t_s: float, trigger: dict[str, float], n: int = 0) -> Cue:
    return Cue(
        id=f"{kind.value}-{n}",
        kind=kind,
        text=f"{kind.value} cue",
        priority=2,
        created_s=t_s,
        expires_s=t_s + 10.0,
        trigger=trigger,
    )


def discomfort(t_s: float, score: int, body_part: str = "left knee") -> DiscomfortReport:
    return DiscomfortReport(t_s=t_s, body_part=body_part, score=score)
