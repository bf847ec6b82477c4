"""Gait engine accuracy: against firmware_sim truth (every profile x rate x noise) and against
the real recordings in ../shared/data (``./run bench accuracy [--minutes M] [--quick]``).
``--set NAME=VALUE`` (repeatable; a line of the config file's ``[gait]`` table) runs every
table with that :class:`GaitConfig` parameter changed, so a trade-off is measured the same
way as the defaults."""

from __future__ import annotations

import argparse
import dataclasses
import time
import tomllib
from pathlib import Path

import numpy as np

from gaitcoach.gait import GaitConfig, analyze
from gaitcoach.service.config import gait_from_dict
from validation.reference import (
    IPOL_CATEGORIES,
    MISS_REASONS,
    WALKING_PROFILES,
    ipol_reference,
    running_reference,
    simulated_walking,
    walking_reference,
)
from validation.scoring import Score, median_abs, p95_abs, score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PROFILES = (
    "heel-overstrider",
    "efficient-midfoot",
    "forefoot",
    "fatiguing",
    "walk-run",
    "asymmetric",
)
TARGETS = (
    "targets: IC/TO |err| median <= 1 smp, p95 <= 3 smp; contact MAE <= 8 ms; cadence <= 0.5 spm "
    "(30 s windows); found >= 99.5 %, false <= 0.5 %; strike MAE <= 2 deg, class >= 95 %; "
    "length/speed <= 2 %"
)


def _fmt(x: float, spec: str = ".2f") -> str:
    return "-" if not np.isfinite(x) else format(x, spec)


def simulated(minutes: float, rates: list[float], seeds: list[int], config: GaitConfig) -> int:
    from firmware_sim.recording import record

    header = (
        f"{'profile':18} {'Hz':>4} {'noise':5} {'truth':>5} {'found%':>7} {'false%':>6} "
        f"{'IC med':>6} {'IC p95':>6} {'TO med':>6} {'TO p95':>6} {'CT ms':>5} {'cad':>5} "
        f"{'FSA':>5} {'cls%':>5} {'len%':>5} {'spd%':>5} {'over':>5} {'land':>5}"
    )
    print(
        f"\nSimulator truth, {minutes:g} min per run, seeds {seeds} "
        "(errors in samples at the row's rate; 'cad' = worst 30 s window, spm)"
    )
    print(TARGETS)
    print(header)
    print("-" * len(header))
    overstride: dict[str, tuple[float, float]] = {}
    worst_ok = True
    for profile in PROFILES:
        for rate in rates:
            for noise in (True, False):
                scores: list[Score] = []
                for seed in seeds:
                    rec = record(profile, minutes, rate, seed, noise=noise)
                    scores.append(score(rec.truth, analyze(rec.imu, config=config), rate))
                sc = _pool(scores)
                ct_ms = 1000 * float(np.mean(np.abs(sc.contact_err_s)))
                cad = float(np.max(np.abs(sc.cadence_window_err_spm), initial=0.0))
                fsa = float(np.mean(np.abs(sc.strike_err_deg)))
                cls = 100 * float(np.mean(sc.strike_class_ok))
                length = 100 * float(np.mean(np.abs(sc.length_rel_err)))
                speed = 100 * float(np.mean(np.abs(sc.speed_rel_err)))
                over = float(np.mean(sc.overstride_m))
                land = float(np.mean(sc.landing_m))
                if rate == rates[len(rates) // 2] and noise:
                    overstride[profile] = (over, land)
                ok = (
                    median_abs(sc.ic_err_samples) <= 1
                    and p95_abs(sc.ic_err_samples) <= 3
                    and median_abs(sc.to_err_samples) <= 1
                    and p95_abs(sc.to_err_samples) <= 3
                    and ct_ms <= 8
                    and cad <= 0.5
                    and sc.found_pct >= 99.5
                    and sc.false_pct <= 0.5
                    and fsa <= 2
                    and cls >= 95
                    and length <= 2
                    and speed <= 2
                )
                worst_ok &= ok
                print(
                    f"{profile:18} {rate:4.0f} {'on' if noise else 'off':5} {sc.n_truth:5d} "
                    f"{sc.found_pct:7.2f} {sc.false_pct:6.2f} "
                    f"{_fmt(median_abs(sc.ic_err_samples))!s:>6} "
                    f"{_fmt(p95_abs(sc.ic_err_samples))!s:>6} "
                    f"{_fmt(median_abs(sc.to_err_samples))!s:>6} "
                    f"{_fmt(p95_abs(sc.to_err_samples))!s:>6} {ct_ms:5.1f} {cad:5.2f} "
                    f"{fsa:5.2f} {cls:5.1f} {length:5.2f} {speed:5.2f} {over:5.2f} {land:5.2f}"
                    + ("" if ok else "  <- misses a target")
                )
    rec = record("standing", 1.0, 208.0, 0)
    n_standing = len(analyze(rec.imu, config=config))
    print(f"\nstanding 60 s at 208 Hz: {n_standing} strides detected (target 0)")
    print("\nOverstride (m, mean per profile at the middle rate, noise on): estimate vs truth")
    ranked_true = sorted(overstride, key=lambda p: overstride[p][1])
    for p in ranked_true:
        print(f"  {p:18} estimate {overstride[p][0]:.3f}  truth {overstride[p][1]:.3f}")
    # Pairs whose truth differs by 3 cm or more must be ordered like the truth.
    pairs = [
        (a, b)
        for i, a in enumerate(ranked_true)
        for b in ranked_true[i + 1 :]
        if overstride[b][1] - overstride[a][1] >= 0.03
    ]
    agree = sum(overstride[a][0] < overstride[b][0] for a, b in pairs)
    print(f"  pairs with truth 3 cm or more apart ordered like the truth: {agree} of {len(pairs)}")
    return 0 if worst_ok and n_standing == 0 and agree == len(pairs) else 1


def walking(minutes: float, rates: list[float], seeds: list[int], config: GaitConfig) -> None:
    """The simulator's walking conditions, per swing (random mounting per foot and seed)."""
    print(
        f"\nSimulated walking conditions, {minutes:g} min per run, seeds {seeds}, a random "
        "mounting per foot and seed;\n  per swing against the truth (one to one within 150 ms): "
        "recall of IC and TO, false IC/TO, |error| median/p95 ms, feet with a flipped frame"
    )
    head = (
        f"  {'profile':12} {'Hz':>4} {'swings':>6} {'IC%':>6} {'TO%':>6} {'false':>7} "
        f"{'IC ms':>9} {'TO ms':>9} {'flip':>4}  by kind (IC%/TO%)"
    )
    print(head)
    print("  " + "-" * (len(head) - 2))
    for profile in WALKING_PROFILES:
        for rate in rates:
            runs = [simulated_walking(profile, minutes, rate, seed, config) for seed in seeds]
            n = sum(r.all.ic.truth for r in runs)
            ic = np.abs(np.concatenate([r.all.ic.errors_s for r in runs])) * 1000
            to = np.abs(np.concatenate([r.all.to.errors_s for r in runs])) * 1000
            found_ic = sum(r.all.ic.found for r in runs)
            found_to = sum(r.all.to.found for r in runs)
            false = f"{sum(r.all.ic.false for r in runs)}/{sum(r.all.to.false for r in runs)}"
            kinds: dict[str, list[int]] = {}
            for r in runs:
                for k, c in r.kinds.items():
                    acc = kinds.setdefault(k, [0, 0, 0])
                    acc[0] += c.ic.truth
                    acc[1] += c.ic.found
                    acc[2] += c.to.found
            by_kind = " ".join(
                f"{k} {100 * v[1] / v[0]:.0f}/{100 * v[2] / v[0]:.0f}"
                for k, v in sorted(kinds.items())  # a stable table from run to run
            )
            print(
                f"  {profile:12} {rate:4.0f} {n:6d} {100 * found_ic / n:6.1f} "
                f"{100 * found_to / n:6.1f} {false:>7} "
                f"{np.median(ic):4.0f}/{np.percentile(ic, 95):<4.0f} "
                f"{np.median(to):4.0f}/{np.percentile(to, 95):<4.0f} "
                f"{sum(r.flipped_feet for r in runs):4d}  {by_kind}"
            )


def _pool(scores: list[Score]) -> Score:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(s, name) for s in scores])

    return Score(
        n_truth=sum(s.n_truth for s in scores),
        n_found=sum(s.n_found for s in scores),
        n_false=sum(s.n_false for s in scores),
        ic_err_samples=cat("ic_err_samples"),
        to_err_samples=cat("to_err_samples"),
        contact_err_s=cat("contact_err_s"),
        strike_err_deg=cat("strike_err_deg"),
        strike_class_ok=cat("strike_class_ok"),
        length_rel_err=cat("length_rel_err"),
        speed_rel_err=cat("speed_rel_err"),
        cadence_window_err_spm=cat("cadence_window_err_spm"),
        overstride_m=cat("overstride_m"),
        landing_m=cat("landing_m"),
    )


def real(config: GaitConfig) -> int:
    if not DATA.is_dir():
        print(f"\nreal recordings: {DATA} not found (skipped)")
        return 0
    w = walking_reference(DATA / "gaitmap-walking", config)
    print(
        "\ngaitmap-walking (timing truth: motion capture; target IC/TO median <= 10 ms, "
        "length <= 4 %)"
    )
    print(f"  strides matched          {w['matched']:.0f} of {w['mocap_strides']:.0f}")
    print(
        f"  IC  error ms  signed median {w['ic_signed_median_ms']:6.1f}  |median| "
        f"{w['ic_abs_median_ms']:5.1f}  p95 {w['ic_abs_p95_ms']:5.1f}"
    )
    print(
        f"  TO  error ms  signed median {w['to_signed_median_ms']:6.1f}  |median| "
        f"{w['to_abs_median_ms']:5.1f}  p95 {w['to_abs_p95_ms']:5.1f}"
    )
    print(
        f"  stride length error %  signed median {w['length_signed_median_pct']:5.2f}  "
        f"|median| {w['length_abs_median_pct']:5.2f}  p95 {w['length_abs_p95_pct']:5.2f}"
    )
    ok = w["ic_abs_median_ms"] <= 10 and w["to_abs_median_ms"] <= 10
    ok &= w["length_abs_median_pct"] <= 4
    ok &= ipol(config)
    fuzzy(config)
    return 0 if ok else 1


def ipol(config: GaitConfig) -> bool:
    """ipol-walking-dev: recall and false detections per category (development data)."""
    folder = DATA / "ipol-walking-dev"
    if not folder.is_dir():
        print(f"\nipol-walking-dev: {folder} not found (skipped)")
        return True
    r = ipol_reference(folder, config)
    print(
        "\nipol-walking-dev (9 people, 52 trials, 104 feet; annotated events, matched one to "
        "one within 150 ms;\n  targets: recall >= 98 % over all swings, >= 99.5 % steady, "
        "false <= 1 %, no flipped frame; offsets: median estimate - annotation)"
    )
    head = (
        f"  {'swings':12} {'n':>5} {'IC rec%':>7} {'IC fal%':>7} {'TO rec%':>7} {'TO fal%':>7} "
        f"{'IC off ms':>9} {'TO off ms':>9}"
    )
    print(head)
    print("  " + "-" * (len(head) - 2))
    for name in IPOL_CATEGORIES:
        c = r.categories[name]
        if not c.ic.truth:
            continue
        ic_off = 1000 * float(np.median(c.ic.errors_s)) if c.ic.errors_s else float("nan")
        to_off = 1000 * float(np.median(c.to.errors_s)) if c.to.errors_s else float("nan")
        false_ic = _fmt(c.ic.false_pct, ".1f") if name in ("all", "aged 60+") else "-"
        false_to = _fmt(c.to.false_pct, ".1f") if name in ("all", "aged 60+") else "-"
        offsets = f"{_fmt(ic_off, '.0f'):>9} {_fmt(to_off, '.0f'):>9}"
        print(
            f"  {name:12} {c.ic.truth:5d} {c.ic.recall_pct:7.1f} {false_ic:>7} "
            f"{c.to.recall_pct:7.1f} {false_to:>7} {offsets}"
        )
    print(
        f"  feet: {r.feet}; flipped frame: {len(r.flipped_feet)} {r.flipped_feet}; "
        f"alignment not confident: {len(r.unconfident_feet)} {r.unconfident_feet}"
    )
    print(f"  unmatched annotations, by reason: {'IC':>4} {'TO':>4}")
    for reason in MISS_REASONS:
        print(f"    {reason:38} {r.misses['IC'][reason]:4d} {r.misses['TO'][reason]:4d}")
    a, s = r.categories["all"], r.categories["steady"]
    return (
        a.ic.recall_pct >= 98
        and a.to.recall_pct >= 98
        and s.ic.recall_pct >= 99.5
        and s.to.recall_pct >= 99.5
        and a.ic.false_pct <= 1
        and a.to.false_pct <= 1
        and not r.flipped_feet
    )


def fuzzy(config: GaitConfig) -> None:
    print(
        "\nfuzzy-run (no lab truth; target: every stride from start to stop, stride cadence vs "
        "spectral cadence within 1 spm)\n  cad-spec: |Hann-weighted stride cadence - spectral "
        "peak (Hann, zero-padded to 2^20, log-parabolic interpolation)| per 20 s window every "
        "5 s, median/max;\n  cad-swing: |stride cadence - swing-peak cadence (same weighting)|; "
        "spec-sw: |spectral - swing-peak cadence|, max"
    )
    print(
        f"  {'runner':7} {'strides':>7} {'expect':>6} {'swings':>6} {'1sw%':>5} {'gaps':>4} "
        f"{'lag s':>9} {'hole s':>6} "
        f"{'cad med':>7} {'IQR':>5} {'cad-spec med/max':>16} {'cad-swing':>10} {'spec-sw':>7} "
        f"{'CT p10/50/90 s':>18} "
        f"{'FSA p10/50/90 deg':>18}"
    )
    runs = [
        ("matt", config),
        ("misha", config),
        ("tom", config),
        ("misha-", dataclasses.replace(config, max_dt_factor=3.5)),
    ]
    for name, config in runs:
        r = running_reference(DATA / "fuzzy-run" / f"{name.rstrip('-')}.csv", config)
        print(
            f"  {name:7} {r['strides']:7.0f} {r['expected_strides']:6.0f} {r['swings']:6.0f} "
            f"{r['one_swing_pct']:5.1f} {r['gaps']:4.0f} "
            f"{r['first_ic_after_start_s']:4.1f}/{r['last_ic_before_stop_s']:<4.1f} "
            f"{r['longest_hole_s']:6.2f} "
            f"{r['cadence_median_spm']:7.1f} {r['cadence_iqr_spm']:5.1f} "
            f"{r['cadence_vs_spectral_median_abs_spm']:10.2f}/"
            f"{r['cadence_vs_spectral_max_abs_spm']:<5.2f} "
            f"{r['cadence_vs_swings_median_abs_spm']:4.2f}/"
            f"{r['cadence_vs_swings_max_abs_spm']:<5.2f} "
            f"{r['spectral_vs_swings_max_abs_spm']:7.2f} "
            f"{r['contact_p10_s']:6.3f}/{r['contact_p50_s']:.3f}/{r['contact_p90_s']:.3f} "
            f"{r['strike_p10_deg']:6.1f}/{r['strike_p50_deg']:.1f}/{r['strike_p90_deg']:.1f}"
        )
    print("  expect = run time x median cadence; swings = swing phases counted independently of")
    print("  the events (peaks of the low-passed toes-up rate); 1sw% = strides holding exactly one")
    print("  lag = first IC after the start / last stride end before the stop of motion; hole =")
    print("  longest time between consecutive strides. Defaults bridge timestamp holes up to 8")
    print("  missing samples; misha- = holes over 3.5 periods end the run (see docs/validation.md)")


def _config(settings: list[str]) -> GaitConfig:
    """The default :class:`GaitConfig` with ``NAME=VALUE`` settings applied: each one a line
    of the config file's ``[gait]`` table, checked the same way."""
    try:
        raw = tomllib.loads("\n".join(settings))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--set: not NAME=VALUE in TOML ({exc})") from None
    config, problems = gait_from_dict(raw, "--set")
    if config is None:
        raise ValueError("; ".join(p.line() for p in problems))
    return config


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench accuracy", description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0, help="minutes per simulated run")
    parser.add_argument("--rates", default="104,208,416")
    parser.add_argument("--seeds", default="0,1,2,3,4,5", help="pooled per row")
    parser.add_argument("--quick", action="store_true", help="1 min, 208 Hz only")
    parser.add_argument("--real-only", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run with this [gait] parameter changed (TOML value; repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        config = _config(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    if args.set:
        print(f"GaitConfig changed: {', '.join(args.set)}")
    t0 = time.perf_counter()
    status = 0
    if not args.real_only:
        rates = [208.0] if args.quick else [float(r) for r in args.rates.split(",")]
        minutes = 1.0 if args.quick else args.minutes
        status = simulated(minutes, rates, [int(s) for s in args.seeds.split(",")], config)
        walking(minutes, [rates[0], rates[-1]] if len(rates) > 1 else rates, [0, 1], config)
    status |= real(config)
    print(f"\n(bench accuracy took {time.perf_counter() - t0:.0f} s)")
    return status
