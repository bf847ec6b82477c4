"""``gaitcoach run``: the live service.

live link (both pods) -> pipeline (gait engine -> coach) -> MQTT publisher, with the session
recorder tapping the stream. Everything runs in one asyncio loop; the link fills a bounded
queue from bleak's callbacks without blocking (drops are counted), the recorder writes from its
own thread, paho publishes from its own thread. SIGINT/SIGTERM close the session, publish the
summary (retained) and tell the broker the service is offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaitcoach.coach import Command, CommandError, StartSession, StopSession, command_name
from gaitcoach.dashboard import DashboardServer, dashboard_server
from gaitcoach.link import FootpodLink, LinkItem, RscReading
from gaitcoach.link.adapter import release_connected
from gaitcoach.logs import set_runner, set_session
from gaitcoach.mqtt import MqttPublisher, service_publisher
from gaitcoach.service.closing import ClosedSession, SessionCloser
from gaitcoach.service.config import ServiceConfig, config_record
from gaitcoach.service.pipeline import Outputs, Pipeline
from gaitcoach.service.progress import SessionProgress, live_fields
from gaitcoach.service.warmup import warm_up
from gaitcoach.session import (
    ImuScale,
    Recorder,
    SessionStatus,
    StorageError,
)
from gaitcoach.session.recorder import SessionExistsError
from gaitcoach.types import (
    Activity,
    Cue,
    Foot,
    GaitMetrics,
    Gap,
    ImuChunk,
    LinkEvent,
    LinkState,
)

log = logging.getLogger("gaitcoach.service")

DOWN_REPORT_LAG_S = 0.5
"""A disconnected pod's loss is reported up to this long before now."""
SESSION_IDS_KEEP = 1000
"""Session ids of this run kept in memory (a flood of ``start`` commands must not grow it)."""
DATA_FRESH_S = 5.0
"""Stream seconds without analysed samples after which the coach judges at the clock's time
(:meth:`Service.coach_time`)."""
GAPS_KEEP = 1000
"""The latest gaps kept in memory (a flaky pod over hours must not grow it); all are counted
and the store holds every one."""


class ServiceClock:
    """The service's time base: the link's host clock (monotonic, scaled for runs faster than
    real time) plus the offset to Unix time for what goes on the wire."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = time_scale
        self.unix_offset_s = time.time() - self.now()

    def now(self) -> float:
        return time.monotonic() * self.time_scale

    def unix(self) -> float:
        return self.now() + self.unix_offset_s


@dataclass
class ServiceState:
    """What the terminal view and the final report show."""

    metrics: GaitMetrics | None = None
    last_cues: deque[Cue] = field(default_factory=lambda: deque(maxlen=5))
    gaps: deque[Gap] = field(default_factory=lambda: deque(maxlen=GAPS_KEEP))
    """The latest gaps of the run (at most :data:`GAPS_KEEP`)."""
    gap_count: int = 0
    """Every gap of the run."""
    rsc: dict[str, RscReading] = field(default_factory=dict)
    session_id: str | None = None
    cue_heard: dict[str, str] = field(default_factory=dict)
    """Cue id -> "sending", "sent", "shown" (no broker: the live view is the delivery) or
    why it never reached the runner ("expired", "queue_full")."""
    distance_m: float = 0.0
    """Running distance of this session (mean of both feet's stride lengths)."""
    session_started_s: float | None = None


@dataclass(frozen=True)
class ServiceResult:
    """How a run ended."""

    session_ids: list[str]
    summary: dict[str, Any] | None
    report_path: Path | None
    counts: dict[str, int]
    gaps: list[Gap]
    """The latest gaps (at most :data:`GAPS_KEEP`); ``gap_count`` counts them all."""
    dropped: dict[str, int]
    summary_text: str = ""
    gap_count: int = 0


class Service:
    """One runner's live coaching service.

    Parameters
    ----------
    config
        Validated configuration.
    on_state
        Called after every metrics tick with the current state (the terminal view).
    """

    def __init__(
        self, config: ServiceConfig, on_state: Callable[[Service], None] | None = None
    ) -> None:
        self.config = config
        self.clock = ServiceClock(config.link.time_scale)
        self.pipeline = Pipeline(config)
        self.state = ServiceState()
        self.progress = SessionProgress()
        self.on_state = on_state
        self.recorder: Recorder | None = None
        self.publisher: MqttPublisher | None = None
        self.link: FootpodLink | None = None
        self.dashboard: DashboardServer | None = None
        self.session_ids: list[str] = []
        self.last_summary: dict[str, Any] | None = None
        self.summary_text = ""
        self.report_path: Path | None = None
        self._closer = SessionCloser(config.session_settings())
        self._stop = asyncio.Event()
        self._commands = asyncio.Lock()
        """Held while a command applies (commands never interleave)."""
        self._first_t: dict[Foot, float] = {}
        self._last_t: dict[Foot, float] = {}
        self._analysed_at: float | None = None
        """Clock time the last samples were analysed (see :meth:`coach_time`)."""
        self._down: dict[Foot, float] = {}
        """Disconnected pods whose loss is being reported: the time reported up to."""
        self._reported: dict[Foot, float] = {}
        """End of the loss the service reported itself for a pod, until samples after it
        arrive: nothing up to it may be stored or analysed too (it was counted lost)."""

    # -- session lifecycle ----------------------------------------------------------------

    def _new_recorder(self, session_id: str | None) -> Recorder | None:
        """A recorder for a new session (None when not recording); claims the id in the store,
        so an id already used raises :class:`SessionExistsError` before anything changes."""
        if not self.config.service.record:
            return None
        s = self.config.session_settings()
        fmt = self.config.link.imu_format
        scale = ImuScale(fmt.acc_lsb_mps2, fmt.gyr_lsb_radps)
        return Recorder(
            s.data_dir,
            config=config_record(self.config),
            runner=self.config.runner.id,
            leg_length_m=s.leg_length_m,
            scales={Foot.LEFT: scale, Foot.RIGHT: scale},
            flush_interval_s=s.flush_interval_s,
            min_free_bytes=s.min_free_bytes,
            session_id=session_id,
        )

    async def _make_recorder(self, session_id: str | None) -> Recorder | None:
        """:meth:`_new_recorder` in a worker thread: it checks the disk (with an fsync), opens
        the store (waiting up to its lock timeout when another writer holds it) and commits
        the session's row, none of which may stall the loop (the stream, the cues, MQTT)."""
        made = asyncio.ensure_future(asyncio.to_thread(self._new_recorder, session_id))
        try:
            return await asyncio.shield(made)
        except asyncio.CancelledError:
            # The service is stopping: a recorder the thread still makes is closed as never
            # used, not left 'recording'.
            made.add_done_callback(_close_unused)
            raise

    def _open_session(self, session_id: str | None, recorder: Recorder | None) -> None:
        now = self.clock.now()
        self.pipeline.new_engine()
        self.recorder = recorder
        if self.recorder is not None:
            session_id = self.recorder.session_id
            self.session_ids.append(session_id)
            del self.session_ids[:-SESSION_IDS_KEEP]  # the store lists them all
        self.pipeline.coach.start(now, session_id)
        self.progress.start(now)
        self.state.session_id = session_id
        if self.publisher is not None:
            self.publisher.session_id = self.state.session_id
            self.publisher.publish_status()
        set_session(session_id)
        self.state.distance_m = 0.0
        self.state.session_started_s = now
        self.state.cue_heard.clear()
        log.info("session started id=%s", self.state.session_id)

    async def _start_command(self, cmd: StartSession) -> Recorder | None:
        """Check a ``start`` before anything changes: the running session's id is refused,
        and so is an id the store already holds (the new recorder claims the id first)."""
        running = self.state.session_id if self.pipeline.coach.active else None
        if cmd.session_id is not None and cmd.session_id == running:
            raise CommandError(
                "conflict", f"session {cmd.session_id} is running: stop it or use a new id"
            )
        try:
            return await self._make_recorder(cmd.session_id)
        except SessionExistsError as exc:
            raise CommandError("conflict", f"{exc}: use a new id") from None
        except StorageError as exc:  # disk full, read-only: the running session goes on
            raise CommandError("unavailable", f"cannot start a session: {exc}") from None

    def _close_session(self, status: SessionStatus) -> asyncio.Task[ClosedSession] | None:
        """Detach the session and close it in the background (the final write in a thread,
        summary and report in a worker process): the loop never waits for them."""
        # The strides the engine still holds belong to this session (as in its replay).
        self._analyse(lambda _: self.pipeline.finish(), None)
        rec, self.recorder = self.recorder, None
        self.pipeline.coach.stop(self.clock.now())
        self.progress.stop()
        if rec is None:
            return None
        if self.publisher is not None:
            # The session is over whether or not its summary can be made.
            self.publisher.session_id = None
            self.publisher.publish_status()
        return self._closer.close(rec, status, self._closed)

    def _closed(self, closed: ClosedSession) -> None:
        if closed.summary is None:
            return
        self.last_summary = closed.summary
        self.summary_text = closed.summary_text
        self.report_path = closed.report_path
        if self.publisher is not None:
            self.publisher.publish_session(closed.summary)

    async def wait_closed(self) -> None:
        """Until every session closed so far is written and summarised."""
        await self._closer.wait()

    # -- data path -----------------------------------------------------------------------

    def handle(self, item: LinkItem) -> None:
        """One item from the link: record, analyse, coach, publish."""
        rec = self.recorder
        if isinstance(item, ImuChunk):
            chunk = self._after_reported(item)
            if chunk is None:
                return
            item = chunk
            if len(item):
                self._first_t.setdefault(item.foot, float(item.t_s[0]))
                self._last_t[item.foot] = float(item.t_s[-1])
                self._analysed_at = self.clock.now()
            self._down.pop(item.foot, None)
            if rec is not None:
                rec.add_chunk(item)
            self._analyse(self.pipeline.on_chunk, item)
        elif isinstance(item, Gap):
            trimmed = self._trim(item)
            if trimmed is not None:
                self._gap(trimmed)
        elif isinstance(item, LinkEvent):
            log.info(
                "link address=%s state=%s %s",
                item.address,
                item.state.value,
                item.detail,
                extra={"foot": item.foot},
            )
            if item.state is LinkState.DISCONNECTED and item.foot in self._last_t:
                start = self._reported.setdefault(item.foot, self._last_t[item.foot])
                self._down.setdefault(item.foot, start)
            elif item.state is LinkState.STREAMING:
                # Connected and subscribed again: what comes now is delivered (held while
                # the clock settles, maybe), and the link reports the exact gap before it.
                # Reporting on would count delivered samples as lost.
                self._down.pop(item.foot, None)
            if rec is not None:
                rec.add_event(item)
            if self.publisher is not None:
                self.publisher.update_pod(item)
        elif isinstance(item, RscReading):
            self.state.rsc[item.foot.value] = item

    def _after_reported(self, chunk: ImuChunk) -> ImuChunk | None:
        """The samples of a chunk after the loss the service reported itself (normally all
        of them; any before were counted lost already and are dropped, counted, so that
        loss counts equal what is missing from the store)."""
        floor = self._reported.get(chunk.foot)
        if floor is None or not len(chunk):
            return chunk
        first = int(np.searchsorted(chunk.t_s, floor, side="right"))
        if first:
            self.pipeline.counts["samples_already_reported_lost"] += first
        if first == len(chunk):
            return None
        del self._reported[chunk.foot]
        return chunk.slice(first, len(chunk)) if first else chunk

    def _trim(self, gap: Gap) -> Gap | None:
        """The part of a link-reported gap not already reported while the pod was away."""
        covered = self._reported.get(gap.foot)
        if covered is None or covered <= gap.start_s:
            return gap
        if gap.end_s <= covered:
            return None
        share = (gap.end_s - covered) / (gap.end_s - gap.start_s)
        return Gap(gap.foot, covered, gap.end_s, round(gap.lost_samples * share), gap.reason)

    def _report_missing(self, now_s: float) -> None:
        """While a pod is away, report its loss up to (almost) now, so the gait engine does
        not hold the other foot's strides until the pod comes back (live coaching goes on)."""
        for foot, covered in list(self._down.items()):
            end = now_s - DOWN_REPORT_LAG_S
            if end > covered + DOWN_REPORT_LAG_S:
                lost = round((end - covered) * self.config.link.rate_hz)
                self._down[foot] = self._reported[foot] = end
                self._gap(Gap(foot, covered, end, lost, "pod disconnected"))

    def _gap(self, item: Gap) -> None:
        self.state.gaps.append(item)
        self.state.gap_count += 1
        log.warning(
            "gap of %.1f s (%d samples lost): %s",
            item.end_s - item.start_s,
            item.lost_samples,
            item.reason,
            extra={"foot": item.foot},
        )
        if self.recorder is not None:
            self.recorder.add_gap(item)
        self._analyse(self.pipeline.on_gap, item)

    def _analyse(self, step: Callable[[Any], Outputs], item: ImuChunk | Gap | None) -> None:
        # Input the engine refuses (bad samples) is counted and skipped; the raw data is
        # recorded already, so a replay can look at it again. (None: the end of a session.)
        try:
            out = step(item)
        except ValueError as exc:
            self.pipeline.counts["rejected_chunks"] += 1
            foot = item.foot if item is not None else None
            log.warning("analysis refused: %s", exc, extra={"foot": foot})
            return
        self._emit(out)

    def _emit(self, out: Outputs) -> None:
        rec, pub = self.recorder, self.publisher
        for stride in out.strides:
            if stride.activity is not Activity.STANDING and stride.stride_length_m is not None:
                self.state.distance_m += stride.stride_length_m / 2.0  # two feet, one track
            if rec is not None:
                rec.add_stride(stride)
            if pub is not None and self.config.mqtt.publish_strides:
                pub.publish_stride(stride)
        self._cues(out.cues)

    def _cues(self, cues: list[Cue]) -> None:
        for cue in cues:
            log.info(
                "cue kind=%s level=%d text=%r trigger=%s",
                cue.kind.value,
                cue.level,
                cue.text,
                cue.trigger,
            )
            self.state.last_cues.append(cue)
            if self.recorder is not None:
                self.recorder.add_cue(cue)
            if self.publisher is not None:
                self.state.cue_heard[cue.id] = "sending"
                self.publisher.publish_cue(cue)
            else:
                self.state.cue_heard[cue.id] = "shown"

    def _cue_outcome(self, cue_id: str, delivered: bool, how: str) -> None:
        """The publisher's word on a cue: sent to the broker, or dropped on the way."""
        self.state.cue_heard[cue_id] = how
        if not delivered:
            log.info("cue %s not delivered: %s", cue_id, how)
        if self.recorder is not None:
            self.recorder.add_cue_outcome(cue_id, delivered, how)

    def coach_time(self, now: float) -> float:
        """The time the coach judges at. While samples keep being analysed, the time they
        have reached: a service running behind its pods (a loaded machine, a slow phone)
        would otherwise find its newest strides older than the standing limit at every tick,
        read the runner as standing, restart the settling time and never coach. When no
        samples have come for :data:`DATA_FRESH_S` (pods silent or gone), the clock: the
        runner reads as standing, as before."""
        if not self._last_t or self._analysed_at is None or now - self._analysed_at > DATA_FRESH_S:
            return now
        return min(now, max(self._last_t.values()))

    def tick(self) -> None:
        now = self.clock.now()
        self._report_missing(now)
        coach_now = self.coach_time(now)
        self._cues(self.pipeline.tick(coach_now))
        self.state.metrics = self.pipeline.metrics(coach_now)
        if self.state.metrics.n_strides == 0:
            self.state.metrics = rsc_metrics(self.state.rsc.values(), now) or self.state.metrics
        self.progress.update(now, self.state.metrics)
        if self.publisher is not None:
            live = live_fields(
                self.progress,
                self.pipeline.coach,
                self.link.status() if self.link is not None else (),
                now,
                self.clock.unix_offset_s,
                self.state.session_id if self.pipeline.coach.active else None,
            )
            self.publisher.publish_metrics(self.state.metrics, live)
        if self.on_state is not None:
            self.on_state(self)

    def processed_s(self, feet: int = 2) -> float:
        """Stream seconds analysed so far for each of ``feet`` pods (the least of them): how
        far the service got in the run, whatever the wall clock says (a loaded machine
        delays it, an accelerated run compresses it)."""
        spans = [self._last_t[f] - self._first_t[f] for f in self._last_t]
        return min(spans) if len(spans) >= feet else 0.0

    # -- commands ------------------------------------------------------------------------

    async def command(self, cmd: Command) -> Mapping[str, Any] | None:
        """Apply a validated MQTT command (the publisher answers with the result); raises
        :class:`CommandError` to refuse one, having changed nothing.

        Commands apply one at a time in the order they arrived: a ``stop`` sent right after a
        ``start`` waits for the new session (whose store work runs in a thread) and stops it.
        """
        async with self._commands:
            return await self._command(cmd)

    async def _command(self, cmd: Command) -> Mapping[str, Any] | None:
        now = self.clock.now()
        name = command_name(cmd)
        new_recorder = await self._start_command(cmd) if isinstance(cmd, StartSession) else None
        if self.recorder is not None:
            self.recorder.add_command(now, name, dataclasses.asdict(cmd))
        if isinstance(cmd, StopSession):
            self._close_session(SessionStatus.COMPLETE)
            return {"session_id": self.session_ids[-1] if self.session_ids else None}
        if isinstance(cmd, StartSession):
            try:
                if self.recorder is not None:
                    self._close_session(SessionStatus.COMPLETE)
            except BaseException:
                if new_recorder is not None:  # claimed but never used
                    _close_unused_recorder(new_recorder)
                raise
            self._open_session(cmd.session_id, new_recorder)
            return {"session_id": self.state.session_id}
        outcome = self.pipeline.coach.apply_command(cmd, now)
        if outcome.cue is not None:
            self._cues([outcome.cue])
        reports = self.pipeline.coach.discomfort_reports_
        if self.recorder is not None and name == "discomfort" and reports:
            self.recorder.add_discomfort(reports[-1])
        detail = dict(outcome.detail)
        until = detail.pop("muted_until_s", None)
        if isinstance(until, float):
            # On the wire every time is Unix seconds (docs/mqtt/topics.md), never the
            # service's own clock.
            detail["muted_until_unix_s"] = round(until + self.clock.unix_offset_s, 3)
        return detail

    # -- run -----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def _consume(self, link: FootpodLink) -> None:
        async for item in link.items():
            self.handle(item)

    async def _ticker(self) -> None:
        interval = self.config.service.metrics_interval_s / self.config.link.time_scale
        while True:
            await asyncio.sleep(interval)
            self.tick()

    async def prepare(self) -> None:
        """Before the broker, a session or a pod: the adapter must exist (else
        :class:`AdapterError`, and nothing is written), pods left connected by a crashed run
        are released, and the gait engine's kernels are compiled or loaded (in a thread)."""
        released = await release_connected(self.config.link.pods, self.config.link.adapter)
        if released:
            log.warning("released pods left connected by an earlier run: %s", released)
        await asyncio.to_thread(warm_up, log.info)

    async def run(self) -> ServiceResult:
        """Run until :meth:`stop` (or SIGINT/SIGTERM); always closes what it opened."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        status = SessionStatus.COMPLETE
        set_runner(self.config.runner.id)
        try:
            await self.prepare()
            async with (
                dashboard_server(
                    self.config.dashboard, self.config.runner.id, self.config.mqtt.topic_prefix
                ) as self.dashboard,
                service_publisher(
                    self.config.mqtt,
                    self.config.runner.id,
                    command_handler=self.command,
                    unix_offset_s=self.clock.unix_offset_s,
                    clock=self.clock.unix,
                ) as pub,
            ):
                self.publisher = pub
                if pub is not None:
                    pub.on_cue_outcome = self._cue_outcome
                self._open_session(None, await self._make_recorder(None))
                async with FootpodLink(self.config.link) as link:
                    self.link = link
                    tasks = [
                        asyncio.create_task(self._consume(link), name="consume"),
                        asyncio.create_task(self._ticker(), name="ticker"),
                    ]
                    stopper = asyncio.create_task(self._stop.wait(), name="stop")
                    done, _ = await asyncio.wait(
                        [*tasks, stopper], return_when=asyncio.FIRST_COMPLETED
                    )
                    for t in (*tasks, stopper):
                        t.cancel()
                    for t in done:
                        if t is not stopper and not t.cancelled() and t.exception() is not None:
                            status = SessionStatus.FAILED
                            log.error(
                                "service task %s failed", t.get_name(), exc_info=t.exception()
                            )
                    self.tick()
                self._close_session(status)
                await self._closer.wait()
                if pub is not None:
                    await pub.flush(5.0)
        finally:
            if self.recorder is not None:  # the publisher failed to start or crashed
                self._close_session(SessionStatus.FAILED)
            await self._closer.wait()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        return self.result()

    def result(self) -> ServiceResult:
        dropped: dict[str, int] = {}
        counts = dict(self.pipeline.counts)
        if self.publisher is not None:
            dropped.update({f"mqtt_{k}": v for k, v in self.publisher.dropped.items()})
            counts["commands_ok"] = self.publisher.stats.commands_ok
            counts["commands_rejected"] = self.publisher.stats.commands_rejected
            counts["mqtt_outages"] = self.publisher.connection.stats.outages
        if self.link is not None:
            dropped["link_queue"] = self.link.queue_drops
        return ServiceResult(
            self.session_ids,
            self.last_summary,
            self.report_path,
            counts,
            list(self.state.gaps),
            dropped,
            self.summary_text,
            self.state.gap_count,
        )


def _close_unused_recorder(rec: Recorder) -> None:
    """Close a recorder made for a session that never started, in a thread of its own (its
    final write must not stall the loop, and nothing waits for it)."""
    threading.Thread(
        target=rec.close, args=(SessionStatus.FAILED,), name=f"close-{rec.session_id}"
    ).start()


def _close_unused(made: asyncio.Future[Recorder | None]) -> None:
    if made.cancelled() or made.exception() is not None:
        return
    rec = made.result()
    if rec is not None:
        _close_unused_recorder(rec)


WALK_RUN_SPEED_MPS = 2.0
"""From this speed an RSC pod that does not report walking/running status reads as running."""
RSC_MAX_AGE_S = 3.0
"""RSC readings older than this no longer describe the runner's gait."""


def rsc_metrics(readings: Iterable[RscReading], now_s: float) -> GaitMetrics | None:
    """Reduced metrics from pods that only speak Running Speed and Cadence: cadence, speed and
    stride length as the pods' firmware computed them (no strike, contact or overstride)."""
    fresh = [r for r in readings if now_s - r.t_s <= RSC_MAX_AGE_S]
    if not fresh:
        return None
    m = [r.measurement for r in fresh]
    strides = [x.stride_length_m for x in m if x.stride_length_m is not None]
    speed = sum(x.speed_mps for x in m) / len(m)
    moving = speed > 0.3 and any(x.cadence_spm > 0 for x in m)
    if any(x.running is None for x in m):
        # A pod without walking/running status: the speed tells, at the preferred walk-run
        # transition speed (about 2.0 m/s; Hreljac 1993, Med Sci Sports Exerc 25(10)).
        running = speed >= WALK_RUN_SPEED_MPS
    else:
        running = any(x.running for x in m)
    return GaitMetrics(
        t_s=now_s,
        activity=(
            Activity.STANDING
            if not moving
            else Activity.RUNNING
            if running
            else Activity.WALKING
        ),
        n_strides=0,
        cadence_spm=sum(x.cadence_spm for x in m) / len(m) if moving else None,
        speed_mps=speed,
        stride_length_m=sum(strides) / len(strides) if strides and moving else None,
    )
