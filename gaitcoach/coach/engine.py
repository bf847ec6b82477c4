"""The coach: rolling gait metrics in, at most one running-technique cue at a time out.

Pure logic (no clocks, no I/O): time comes from the strides and from ``tick(now_s)``.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gaitcoach.coach.commands import (
    Command,
    CommandError,
    Mute,
    ReportDiscomfort,
    SetTargets,
    StartSession,
    StopSession,
    command_name,
)
from gaitcoach.coach.config import TECHNIQUE_KINDS, CoachSettings, RunnerProfile
from gaitcoach.coach.targets import cadence_target
from gaitcoach.coach.templates import CueTemplates
from gaitcoach.metrics import RollingMetrics
from gaitcoach.types import (
    Activity,
    Cue,
    CueKind,
    DiscomfortReport,
    Foot,
    GaitMetrics,
    StrideRecord,
)

TEN_MINUTES_S = 600.0
DECISIONS_KEEP = 1000
CUES_KEEP = 500
DISCOMFORT_KEEP = 100
"""The coach keeps only the newest decisions, cues and discomfort reports of a session in
memory (the service runs for hours and every command adds a decision); the session record
keeps every cue, command and report on disk."""
FAULT_KINDS = tuple(CueKind(k) for k in TECHNIQUE_KINDS)
BOTH_FEET = frozenset((Foot.LEFT, Foot.RIGHT))


class DecisionAction(StrEnum):
    BASELINE = "baseline"
    """The cadence baseline was measured (end of warm-up)."""
    FAULT_ON = "fault_on"
    """A metric crossed its enter threshold."""
    FAULT_OFF = "fault_off"
    """A metric crossed back over its exit threshold."""
    CUE = "cue"
    SUPPRESSED = "suppressed"
    """A cue was due but held back (reason: warmup, settle, interval, cap, muted, paused,
    priority)."""
    DISCOMFORT = "discomfort"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class Decision:
    """One coaching decision with the numbers behind it (stored in the session)."""

    t_s: float
    kind: str
    """A cue kind, or "session" for commands."""
    action: DecisionAction
    reason: str
    trigger: dict[str, float]
    cue_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-able form for the session record."""
        return {
            "t_s": self.t_s,
            "kind": self.kind,
            "action": self.action.value,
            "reason": self.reason,
            "trigger": dict(self.trigger),
            "cue_id": self.cue_id,
        }


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What applying a command did: ``detail`` is echoed in the reply."""

    command: str
    detail: dict[str, float | str | None]
    cue: Cue | None = None


@dataclass(slots=True)
class _Fault:
    kind: CueKind
    active: bool = False
    cues_in_episode: int = 0
    last_cue_s: float = -math.inf
    cued_values: dict[str, float] = field(default_factory=dict)
    corrected_s: float | None = None
    last_values: dict[str, float] = field(default_factory=dict)
    suppressed_reason: str | None = None
    measured: bool = False
    """The metric is known in the current window (else the state is kept, but nothing is
    said about it: ``last_values`` are from an older window)."""


class Coach:
    """Running-technique coach over rolling windows, with hysteresis and rate limits.

    Method: every new stride (and every ``tick``) updates medians over the last
    ``window_steps`` strides within ``window_s`` (:class:`~gaitcoach.metrics.RollingMetrics`).
    Three faults are tracked with enter/exit hysteresis: cadence below target (Heiderscheit et
    al. 2011: +5-10 % step rate reduces overstride and loading), overstride / long steps for
    the leg length, and excessive heel strike (strike angle above a limit, well above the
    8 deg rearfoot boundary of Altman & Davis 2012). Among the cues that are due, the one of
    highest priority is sent, subject to a warm-up, a settle time after walking, minimum
    intervals per kind and overall, and a cap per ten minutes. A cue repeated while its fault
    persists escalates; a fault that was cued and stays corrected for ``reinforce_hold_s``
    earns one reinforcement. A discomfort report is answered at once and pauses technique cues.

    Parameters
    ----------
    profile
        The runner (targets, leg length, enabled cues, language).
    settings
        Windows, thresholds, limits and priorities.
    templates
        Cue wording; loaded from the profile's language when omitted.

    Attributes
    ----------
    decisions_
        The session's latest decisions (up to ``DECISIONS_KEEP``), with their numbers.
    cues_
        The session's latest cues (up to ``CUES_KEEP``).
    discomfort_reports_
        The session's latest discomfort reports (up to ``DISCOMFORT_KEEP``).
    metrics_
        The latest rolling metrics (None before the first stride).
    baseline_cadence_spm_
        Configured or measured cadence baseline (None until known).
    """

    def __init__(
        self,
        profile: RunnerProfile,
        settings: CoachSettings | None = None,
        templates: CueTemplates | None = None,
    ) -> None:
        self.profile = profile
        self.settings = settings or CoachSettings()
        self.templates = templates or CueTemplates.load(profile.language, profile.cue_templates_dir)
        self.active = False
        self._new_session(None)

    # -- session -------------------------------------------------------------------------

    def _new_session(self, session_id: str | None) -> None:
        s = self.settings
        self.session_id: str | None = session_id
        self._rolling = RollingMetrics(
            s.window_steps, s.window_s, leg_length_m=self.profile.leg_length_or_estimate_m
        )
        self._faults = {k: _Fault(k) for k in FAULT_KINDS}
        self._run_start_s: float | None = None
        self._running_since_s: float | None = None
        self._warmup_cadences: list[float] = []
        self._feet: set[Foot] = set()
        """The feet whose strides this session has seen."""
        self._sent_s: deque[float] = deque()
        self._last_any_s = -math.inf
        self._muted_until_s = -math.inf
        self._paused_until_s = -math.inf
        self._cue_count = 0
        self._cadence_target_override: float | None = self.profile.cadence_target_spm
        self._cadence_raise_pct = self.profile.cadence_raise_pct
        self._strike_enter_deg = s.strike_angle_enter_deg
        self._strike_exit_deg = s.strike_angle_exit_deg
        self._overstride_enter_m = s.overstride_enter_m
        self._overstride_exit_m = s.overstride_exit_m
        self.decisions_: deque[Decision] = deque(maxlen=DECISIONS_KEEP)
        self.cues_: deque[Cue] = deque(maxlen=CUES_KEEP)
        self.discomfort_reports_: deque[DiscomfortReport] = deque(maxlen=DISCOMFORT_KEEP)
        self.metrics_: GaitMetrics | None = None
        self.baseline_cadence_spm_: float | None = self.profile.baseline_cadence_spm

    def start(self, now_s: float, session_id: str | None = None) -> None:
        """Begin a session: forget the previous one's windows, faults and targets. The mute
        and the rate limits carry over: they are about what the runner hears, and a restart
        does not make the last cue any less recent (or a mute shorter)."""
        heard = (self._muted_until_s, self._last_any_s, self._sent_s)
        last_cue_s = {kind: f.last_cue_s for kind, f in self._faults.items()}
        self._new_session(session_id)
        self._muted_until_s, self._last_any_s, self._sent_s = heard
        for kind, fault in self._faults.items():
            fault.last_cue_s = last_cue_s[kind]
        self.active = True
        self._decide(now_s, "session", DecisionAction.COMMAND, "start", {})

    def stop(self, now_s: float) -> None:
        """End the session: later strides are ignored until the next start."""
        self.active = False
        self._decide(now_s, "session", DecisionAction.COMMAND, "stop", {})

    # -- inputs --------------------------------------------------------------------------

    def on_stride(self, stride: StrideRecord) -> list[Cue]:
        """Add one stride (time order); returns the cue to send now, if any."""
        if not self.active:
            if self.cues_ or self.decisions_:
                return []  # stopped: wait for the next start
            self.start(stride.ic_s)
        self._rolling.add(stride)
        self._feet.add(stride.foot)
        if (
            stride.activity is Activity.RUNNING
            and self._run_start_s is not None
            and not self._warmed_up(stride.end_ic_s)
        ):
            self._warmup_cadences.append(stride.cadence_spm)
        return self.tick(stride.end_ic_s)

    def tick(self, now_s: float) -> list[Cue]:
        """Re-evaluate at ``now_s`` (also notices standing still when strides stop)."""
        if not self.active:
            return []
        snap = self._rolling.snapshot(now_s)
        self.metrics_ = snap
        window = self._rolling.window(now_s)
        running = (
            snap.activity is Activity.RUNNING
            and snap.n_strides >= self.settings.min_strides
            # Decide on pure running windows only: a window mixing walking and running
            # strides has meaningless medians (cadence half-way between the two).
            and all(s.activity is Activity.RUNNING for s in window)
            # Once both feet have streamed, a window of one foot (the other pod dropped out)
            # is one-sided: its medians are that foot's, and an asymmetric runner's one foot
            # is no ground for a cue. A single pod (one foot all session) is coached as is.
            and not (self._feet >= BOTH_FEET and not {s.foot for s in window} >= BOTH_FEET)
        )
        if not running:
            self._running_since_s = None
            return []
        if self._run_start_s is None:
            self._run_start_s = now_s
        if self._running_since_s is None:
            self._running_since_s = now_s
        self._update_baseline(now_s, snap)
        for fault in self._faults.values():
            self._update_fault(now_s, fault, snap)
        return self._choose(now_s)

    def report_discomfort(self, report: DiscomfortReport) -> Cue:
        """Answer a discomfort report at once and pause technique cues."""
        s = self.settings
        if not 0 <= report.score <= 10:
            raise CommandError("out_of_range", f"discomfort.score = {report.score}: 0 to 10")
        self.discomfort_reports_.append(report)
        if report.score >= s.discomfort_stop_from:
            band, pause_until = "stop", math.inf
        elif report.score >= s.discomfort_walk_from:
            band, pause_until = "walk", report.t_s + s.discomfort_pause_s
        else:
            band = "ease"
            pause_until = report.t_s + (s.discomfort_pause_s if report.score > 0 else 0.0)
        self._paused_until_s = max(self._paused_until_s, pause_until)
        trigger = {"score": float(report.score)}
        if math.isfinite(pause_until):
            trigger["pause_s"] = max(0.0, pause_until - report.t_s)
        else:
            trigger["pause_rest_of_session"] = 1.0
        text = self.templates.answer(band, {"body_part": report.body_part, "score": report.score})
        cue = self._make_cue(report.t_s, CueKind.DISCOMFORT, text, trigger, 0)
        self._send(report.t_s, cue, count_in_cap=False)
        self._decide(
            report.t_s,
            CueKind.DISCOMFORT,
            DecisionAction.DISCOMFORT,
            f"{band}: {report.body_part} {report.score}/10",
            trigger,
            cue.id,
        )
        return cue

    def apply_command(self, command: Command, now_s: float) -> CommandOutcome:
        """Apply a validated command; raises :class:`CommandError` when it cannot apply."""
        name = command_name(command)
        detail: dict[str, float | str | None] = {}
        cue: Cue | None = None
        if isinstance(command, StartSession):
            self.start(now_s, command.session_id)
            detail["session_id"] = command.session_id
        elif isinstance(command, StopSession):
            self.stop(now_s)
        elif isinstance(command, SetTargets):
            detail = self._set_targets(command)
        elif isinstance(command, Mute):
            self._muted_until_s = now_s + command.duration_s if command.duration_s > 0 else now_s
            detail["muted_until_s"] = self._muted_until_s
        elif isinstance(command, ReportDiscomfort):
            cue = self.report_discomfort(
                DiscomfortReport(now_s, command.body_part, command.score, command.note)
            )
            detail["cue_id"] = cue.id
        if not isinstance(command, StartSession | StopSession):
            numbers = {k: float(v) for k, v in detail.items() if isinstance(v, int | float)}
            self._decide(now_s, "session", DecisionAction.COMMAND, name, numbers)
        return CommandOutcome(name, detail, cue)

    def _set_targets(self, command: SetTargets) -> dict[str, float | str | None]:
        s = self.settings
        if command.strike_angle_limit_deg is not None:
            self._strike_enter_deg = command.strike_angle_limit_deg
            gap = s.strike_angle_enter_deg - s.strike_angle_exit_deg
            self._strike_exit_deg = command.strike_angle_limit_deg - gap
        if command.overstride_limit_m is not None:
            self._overstride_enter_m = command.overstride_limit_m
            gap_m = s.overstride_enter_m - s.overstride_exit_m
            self._overstride_exit_m = max(0.0, command.overstride_limit_m - gap_m)
        if command.cadence_target_spm is not None:
            self._cadence_target_override = command.cadence_target_spm
        if command.cadence_raise_pct is not None:
            self._cadence_raise_pct = command.cadence_raise_pct
            if command.cadence_target_spm is None:
                self._cadence_target_override = None  # relative target wins again
        return {
            "cadence_target_spm": self.cadence_target_spm_,
            "strike_angle_limit_deg": self._strike_enter_deg,
            "overstride_limit_m": self._overstride_enter_m,
        }

    # -- state ---------------------------------------------------------------------------

    @property
    def cadence_target_spm_(self) -> float | None:
        """Absolute target, else baseline + raise (capped); None while unknown. The same rule
        as the summary, the advice and the plots (:mod:`gaitcoach.coach.targets`)."""
        target = cadence_target(
            self.profile,
            self.settings,
            self.baseline_cadence_spm_,
            override_spm=self._cadence_target_override,
            raise_pct=self._cadence_raise_pct,
        )
        return None if target is None else target.target_spm

    @property
    def overstride_limit_m(self) -> float:
        """The overstride the coach cues above (``set_targets`` may have changed it)."""
        return self._overstride_enter_m

    @property
    def strike_angle_limit_deg(self) -> float:
        """The strike angle the coach cues above."""
        return self._strike_enter_deg

    @property
    def muted_until_s(self) -> float:
        return self._muted_until_s

    def targets_(self) -> dict[str, float | None]:
        """The targets and thresholds in force (for displays: the dashboard colours a value
        green at or past ``exit``, red past ``enter``, amber in the hysteresis band)."""
        target = self.cadence_target_spm_
        enter, leave = (None, None) if target is None else self._cadence_band(target)
        return {
            "cadence_spm": target,
            "cadence_enter_below_spm": enter,
            "cadence_exit_at_spm": leave,
            "strike_angle_enter_deg": self._strike_enter_deg,
            "strike_angle_exit_deg": self._strike_exit_deg,
            "overstride_enter_m": self._overstride_enter_m,
            "overstride_exit_m": self._overstride_exit_m,
        }

    def _cadence_band(self, target: float) -> tuple[float, float]:
        """The cadences under ``target`` below which the cadence cue starts and at which it
        stops (the hysteresis band of :meth:`targets_` and :meth:`_measure`)."""
        s = self.settings
        return target * (1 - s.cadence_enter_pct / 100), target * (1 - s.cadence_exit_pct / 100)

    def _warmed_up(self, now_s: float) -> bool:
        return self._run_start_s is not None and now_s - self._run_start_s >= self.settings.warmup_s

    def _update_baseline(self, now_s: float, snap: GaitMetrics) -> None:
        if self.baseline_cadence_spm_ is not None or not self._warmed_up(now_s):
            return
        values = self._warmup_cadences or ([snap.cadence_spm] if snap.cadence_spm else [])
        if not values:
            return
        self.baseline_cadence_spm_ = float(statistics.median(values))
        self._decide(
            now_s,
            CueKind.CADENCE,
            DecisionAction.BASELINE,
            "measured in warm-up",
            {"baseline_cadence_spm": self.baseline_cadence_spm_, "n_strides": float(len(values))},
        )

    def _measure(self, kind: CueKind, snap: GaitMetrics) -> tuple[bool | None, dict[str, float]]:
        """(is the fault present, with hysteresis relative to its state; numbers behind it).

        None when the metric is unknown: the state is kept as it is.
        """
        s = self.settings
        active = self._faults[kind].active
        if kind is CueKind.CADENCE:
            target = self.cadence_target_spm_
            if snap.cadence_spm is None or target is None:
                return None, {}
            enter, leave = self._cadence_band(target)
            values = {
                "cadence_spm": snap.cadence_spm,
                "target_spm": target,
                "enter_below_spm": enter,
                "exit_at_spm": leave,
            }
            return (snap.cadence_spm < leave) if active else (snap.cadence_spm < enter), values
        if kind is CueKind.STRIDE:
            over, rel = snap.overstride_m, snap.step_length_rel_leg
            if over is None and rel is None:
                return None, {}
            values = {
                "overstride_limit_m": (
                    self._overstride_exit_m if active else self._overstride_enter_m
                ),
                "step_rel_leg_limit": s.step_rel_leg_exit if active else s.step_rel_leg_enter,
            }
            if over is not None:
                values |= {"overstride_m": over, "overstride_cm": 100 * over}
            if rel is not None:
                values["step_rel_leg"] = rel
            if active:
                fine = (over is None or over <= self._overstride_exit_m) and (
                    rel is None or rel <= s.step_rel_leg_exit
                )
                return not fine, values
            return (
                (over is not None and over > self._overstride_enter_m)
                or (rel is not None and rel > s.step_rel_leg_enter)
            ), values
        angle = snap.foot_strike_angle_deg
        if angle is None:
            return None, {}
        # The limit that decides now: a fault being corrected lasts until the exit limit, so a
        # repeated cue never reads "17.9 against a limit of 18".
        limit = self._strike_exit_deg if active else self._strike_enter_deg
        values = {"strike_angle_deg": angle, "limit_deg": limit}
        return angle > limit, values

    def _update_fault(self, now_s: float, fault: _Fault, snap: GaitMetrics) -> None:
        present, values = self._measure(fault.kind, snap)
        fault.measured = present is not None
        if present is None:
            return
        fault.last_values = values
        if present and not fault.active:
            fault.active = True
            fault.cues_in_episode = 0
            fault.corrected_s = None
            fault.suppressed_reason = None
            self._decide(now_s, fault.kind, DecisionAction.FAULT_ON, "enter threshold", values)
        elif not present and fault.active:
            fault.active = False
            fault.suppressed_reason = None
            if fault.cues_in_episode > 0:
                fault.corrected_s = now_s  # reinforcement pending while it holds
            self._decide(now_s, fault.kind, DecisionAction.FAULT_OFF, "exit threshold", values)

    # -- choosing what to say --------------------------------------------------------------

    def _choose(self, now_s: float) -> list[Cue]:
        s = self.settings
        due: list[tuple[int, CueKind, _Fault]] = []
        for fault in self._faults.values():
            if not self.profile.cue_enabled(fault.kind) or not fault.measured:
                continue  # an unknown metric (values withheld) is no ground for a cue
            if fault.active and now_s - fault.last_cue_s >= s.min_interval_same_s:
                due.append((s.priority(fault.kind), fault.kind, fault))
            elif (
                fault.corrected_s is not None
                and self.profile.cue_enabled(CueKind.REINFORCE)
                and now_s - fault.corrected_s >= s.reinforce_hold_s
            ):
                due.append((s.priority(CueKind.REINFORCE), CueKind.REINFORCE, fault))
        if not due:
            return []
        due.sort(key=lambda d: -d[0])
        reason = self._gate(now_s)
        if reason is not None:
            for _, kind, fault in due:
                self._suppress(now_s, kind, fault, reason)
            return []
        _, kind, fault = due[0]
        for _, other_kind, other in due[1:]:
            self._suppress(now_s, other_kind, other, "priority")
        if kind is CueKind.REINFORCE:
            fault.corrected_s = None
            values = {
                **fault.last_values,
                **{f"before_{k}": v for k, v in fault.cued_values.items()},
            }
            text = self.templates.praise(fault.kind, _Missing(fault.last_values))
            cue = self._make_cue(now_s, kind, text, values, 0)
            reason_text = f"{fault.kind.value} corrected and held"
        else:
            level = min(fault.cues_in_episode, s.max_level)
            text = self.templates.technique(kind, level, _Missing(fault.last_values))
            metronome = fault.last_values.get("target_spm") if kind is CueKind.CADENCE else None
            cue = self._make_cue(now_s, kind, text, fault.last_values, level, metronome)
            fault.cues_in_episode += 1
            fault.last_cue_s = now_s
            fault.cued_values = dict(fault.last_values)
            reason_text = "fault persists" if level else "fault"
        fault.suppressed_reason = None
        self._send(now_s, cue, count_in_cap=True)
        self._decide(now_s, kind, DecisionAction.CUE, reason_text, cue.trigger, cue.id)
        return [cue]

    def _gate(self, now_s: float) -> str | None:
        """Why no technique cue may be sent now (None: one may)."""
        s = self.settings
        if now_s < self._paused_until_s:
            return "paused after discomfort"
        if now_s < self._muted_until_s:
            return "muted"
        if not self._warmed_up(now_s):
            return "warmup"
        if self._running_since_s is None or now_s - self._running_since_s < s.settle_s:
            return "settle"
        if now_s - self._last_any_s < s.min_interval_any_s:
            return "interval"
        while self._sent_s and now_s - self._sent_s[0] >= TEN_MINUTES_S:
            self._sent_s.popleft()
        if len(self._sent_s) >= s.max_cues_per_10min:
            return "cap per 10 min"
        return None

    def _suppress(self, now_s: float, kind: CueKind, fault: _Fault, reason: str) -> None:
        # Recorded once per fault episode and reason, not at every stride.
        if fault.suppressed_reason == reason:
            return
        fault.suppressed_reason = reason
        self._decide(now_s, kind, DecisionAction.SUPPRESSED, reason, fault.last_values)

    def _make_cue(
        self,
        now_s: float,
        kind: CueKind,
        text: str,
        trigger: Mapping[str, float],
        level: int,
        metronome_spm: float | None = None,
    ) -> Cue:
        self._cue_count += 1
        prefix = self.session_id or "cue"
        return Cue(
            id=f"{prefix}-{self._cue_count:04d}",
            kind=kind,
            text=text,
            priority=self.settings.priority(kind),
            created_s=now_s,
            expires_s=now_s + self.settings.cue_ttl_s,
            trigger={k: float(v) for k, v in trigger.items()},
            level=level,
            metronome_spm=metronome_spm,
        )

    def _send(self, now_s: float, cue: Cue, count_in_cap: bool) -> None:
        self.cues_.append(cue)
        self._last_any_s = now_s
        if count_in_cap:
            self._sent_s.append(now_s)

    def _decide(
        self,
        t_s: float,
        kind: str,
        action: DecisionAction,
        reason: str,
        trigger: Mapping[str, float],
        cue_id: str | None = None,
    ) -> None:
        self.decisions_.append(Decision(t_s, str(kind), action, reason, dict(trigger), cue_id))


class _Missing(dict[str, object]):
    """Template values: an unknown number prints as '?' instead of failing the cue."""

    def __missing__(self, key: str) -> object:
        return _Unknown()


class _Unknown:
    def __format__(self, spec: str) -> str:
        return "?"


__all__ = ["Coach", "CommandOutcome", "Decision", "DecisionAction"]
