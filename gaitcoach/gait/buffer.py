"""A growable sample buffer for one continuous run of a pod's samples, with the per-sample
signals the stages read (stance energy, ``||acc| - g|``, the foot's pitch rate)."""

from __future__ import annotations

import numpy as np

from gaitcoach.gait.kernels import project, running_max, stance_energy
from gaitcoach.gait.segmentation import RunSignals
from gaitcoach.types import FloatArray

_COLUMNS = ("_t", "_acc", "_gyr", "_en", "_ad", "_energy", "_w")


class RunBuffer:
    """Samples of one run, addressed by run index (``base`` is the index of row 0).

    ``energy`` (the running maximum of the stance energy over +-``h`` samples) is final for
    rows before ``energy_end``: ``h`` samples before the end until :meth:`close`.
    """

    def __init__(self, h: int, gyr_scale: float, acc_scale: float, capacity: int = 4096) -> None:
        self.h = h
        self._gyr_scale = gyr_scale
        self._acc_scale = acc_scale
        self.base = 0
        self._n = 0
        self._t = np.empty(capacity)
        self._acc = np.empty((capacity, 3))
        self._gyr = np.empty((capacity, 3))
        self._en = np.empty(capacity)
        self._ad = np.empty(capacity)
        self._energy = np.empty(capacity)
        self._w = np.zeros(capacity)
        self._axis: FloatArray | None = None
        self._energy_end = 0
        self.closed = False

    @property
    def end(self) -> int:
        """Run index one past the last sample."""
        return self.base + self._n

    @property
    def energy_end(self) -> int:
        return self.base + self._energy_end

    def __len__(self) -> int:
        return self._n

    def append(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> None:
        k = len(t)
        if self._n + k > len(self._t):
            self._grow(max(2 * len(self._t), self._n + k))
        a, b = self._n, self._n + k
        self._t[a:b] = t
        self._acc[a:b] = acc
        self._gyr[a:b] = gyr
        gn = np.empty(k)
        stance_energy(
            self._acc[a:b],
            self._gyr[a:b],
            gn,
            self._en[a:b],
            self._ad[a:b],
            self._gyr_scale,
            self._acc_scale,
        )
        if self._axis is not None:
            project(self._gyr, self._axis, a, b, self._w)
        self._n = b
        self._update_energy(b - self.h)

    def close(self) -> None:
        """The run ends here: the last rows' running maximum is final too."""
        self.closed = True
        self._update_energy(self._n)

    def _update_energy(self, stop: int) -> None:
        start = max(self._energy_end - self.h, 0)
        if stop > self._energy_end:
            # Rows [start, energy_end) are recomputed with the same inputs: no change.
            running_max(self._en[: self._n], self.h, start, stop, self._energy)
            self._energy_end = stop

    def set_axis(self, axis: FloatArray) -> None:
        """The foot's medio-lateral axis in the sensor frame: ``w = axis . gyr`` per row."""
        self._axis = np.ascontiguousarray(axis, dtype=np.float64)
        project(self._gyr, self._axis, 0, self._n, self._w)

    def _grow(self, cap: int) -> None:
        for name in _COLUMNS:
            old = getattr(self, name)
            new = np.empty((cap, *old.shape[1:]))
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def drop_before(self, index: int, now: bool = False) -> None:
        """Forget samples before run index ``index``: amortised (moves data only once half
        the rows can go), or ``now``."""
        k = min(index - self.base, self._n)
        if k <= 0 or (k < self._n // 2 and not now):
            return
        for name in _COLUMNS:
            arr = getattr(self, name)
            arr[: self._n - k] = arr[k : self._n].copy()
        self._n -= k
        self._energy_end = max(self._energy_end - k, 0)
        self.base = index

    def signals(self) -> RunSignals:
        """The held rows' signals (row 0 = ``base``; views, valid until the next change)."""
        n = self._n
        return RunSignals(
            self._t[:n], self._w[:n], self._acc[:n], self._gyr[:n], self._energy[:n], self._ad[:n]
        )

    def t_at(self, index: int) -> float:
        return float(self._t[index - self.base])

    def last_t(self) -> float | None:
        return float(self._t[self._n - 1]) if self._n else None
