"""The simulated runner hears the coach: cues arrive over MQTT, the gait changes.

A :class:`ClosedLoop` subscribes to ``<prefix>/<runner>/cue`` (paho-mqtt, MQTT 3.1.1 so it
works with Mosquitto and the embedded broker alike), feeds every cue to a
:class:`~firmware_sim.response.CueResponse` at the simulation time it arrives, and applies
the resulting offsets to the runner's :class:`~firmware_sim.simulation.Simulation` objects.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt

from firmware_sim.params import Mode
from firmware_sim.response import CueResponse, ResponseSettings
from firmware_sim.simulation import Simulation

log = logging.getLogger(__name__)


def running_params(sim: Simulation) -> tuple[float, float]:
    """Cadence and speed of the profile's first running segment."""
    for seg in sim.profile.segments:
        if seg.mode is Mode.RUN:
            return seg.params.cadence_spm, seg.params.speed_mps
    return 170.0, 3.0


class ClosedLoop:
    """Cues in, gait changes out.

    Parameters
    ----------
    sims
        Returns the runner's simulations (created as pods start streaming; all get the same
        offsets).
    host, port, runner, topic_prefix
        Where the cues are published.
    sim_time
        The current simulation time (seconds of the run the pods are streaming).
    settings
        How the runner responds (compliance 0 = ignores every cue).
    """

    def __init__(
        self,
        sims: Callable[[], Sequence[Simulation]],
        host: str,
        port: int,
        runner: str,
        sim_time: Callable[[], float],
        settings: ResponseSettings | None = None,
        topic_prefix: str = "gaitcoach",
    ) -> None:
        self.sims = sims
        self.sim_time = sim_time
        self.settings = settings or ResponseSettings()
        self.settings.validate()
        self.response: CueResponse | None = None
        self.topic = f"{topic_prefix}/{runner}/cue"
        self.malformed = 0
        self._inbox: list[tuple[str, int, float | None]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"sim-runner-{runner}",
            protocol=mqtt.MQTTv311,
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._host, self._port = host, port

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None
    ) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            cue = json.loads(msg.payload)
            kind = str(cue["kind"])
            level = int(cue.get("level", 0))
            metronome = cue.get("metronome_spm")
            target = float(metronome) if metronome is not None else None
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            return
        with self._lock:
            self._inbox.append((kind, level, target))

    def start(self) -> None:
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def apply(self) -> dict[str, float]:
        """Hear what arrived, then steer the simulations; returns the offsets applied."""
        sims = self.sims()
        if not sims:
            return {}
        if self.response is None:
            cadence, speed = running_params(sims[0])
            self.response = CueResponse(cadence, self.settings, speed)
        now = self.sim_time()
        with self._lock:
            heard, self._inbox = self._inbox, []
        for kind, level, target in heard:
            log.info("runner heard %s (level %d) at t=%.1f", kind, level, now)
            self.response.hear(now, kind, level, target)
        offsets = self.response.offsets(now)
        for sim in sims:
            sim.adjust(**offsets)
        return offsets
