"""The Movesense reference client's parsing, re-implemented from its documented layout (the
``gatt_sensordata_app`` sample's Python client): independent of ``gaitcoach.footpod``.

What the reference client does with notifications on ``34800002-...``:

- ``[1, ref, ...]`` is a command response (printed as is);
- ``[2, ref, ...]`` starts a data message, kept as the "ongoing data update";
- ``[3, ref, ...]`` (and ``[4, ref, ...]``, defined by the sample as DATA_PART3) continue
  it: the part's first two octets are skipped and the rest appended;
- the joined message is read at fixed offsets: ``u32`` timestamp at offset 2, then for each
  signal an array of ``n`` ``float32[3]`` vectors (IMU6: acceleration, then gyroscope;
  IMU9 adds the magnetometer), ``n`` fixed by what was subscribed (8 at 104 Hz in its
  example). The client reads a message when it has received all of it; a message that
  arrives as one unsplit DATA of the wrong size is never read (0 samples).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class ReferenceMessage:
    ref: int
    timestamp_ms: int
    arrays: list[list[tuple[float, float, float]]]


@dataclass
class ReferenceGspClient:
    """``layout``: reference -> (samples per message, arrays per sample)."""

    layout: dict[int, tuple[int, int]]
    messages: list[ReferenceMessage] = field(default_factory=list)
    responses: list[bytes] = field(default_factory=list)
    parts_seen: set[int] = field(default_factory=set)
    _ongoing: dict[int, bytearray] = field(default_factory=dict)

    def on_notification(self, data: bytes) -> None:
        kind, ref = data[0], data[1]
        self.parts_seen.add(kind)
        if kind == 1:
            self.responses.append(bytes(data))
            return
        if ref not in self.layout:
            return
        if kind == 2:
            self._ongoing[ref] = bytearray(data)
        elif kind in (3, 4) and ref in self._ongoing:
            self._ongoing[ref] += data[2:]
        else:
            return
        n, arrays = self.layout[ref]
        whole = self._ongoing[ref]
        if len(whole) == 2 + 4 + n * arrays * 12:
            self.messages.append(self._read(ref, bytes(whole), n, arrays))
            del self._ongoing[ref]

    @staticmethod
    def _read(ref: int, msg: bytes, n: int, arrays: int) -> ReferenceMessage:
        timestamp = struct.unpack_from("<I", msg, 2)[0]
        out = []
        for a in range(arrays):
            base = 6 + a * n * 12
            out.append([struct.unpack_from("<fff", msg, base + i * 12) for i in range(n)])
        return ReferenceMessage(ref, timestamp, out)
