"""A growable sample buffer for one continuous run of a pod's samples."""

from __future__ import annotations

import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.types import FloatArray


class SampleBuffer:
    """Samples of one run, addressed by run index (``base`` is the index of row 0)."""

    def __init__(
        self, gyr_scale: float = 1.0, acc_scale: float = 1.0, capacity: int = 4096
    ) -> None:
        self._gyr_scale = gyr_scale
        self._acc_scale = acc_scale
        self.base = 0
        self._n = 0
        self._t = np.empty(capacity)
        self._acc = np.empty((capacity, 3))
        self._gyr = np.empty((capacity, 3))
        self._gn = np.empty(capacity)
        self._en = np.empty(capacity)

    @property
    def end(self) -> int:
        """Run index one past the last sample."""
        return self.base + self._n

    def append(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> None:
        k = len(t)
        if self._n + k > len(self._t):
            cap = max(2 * len(self._t), self._n + k)
            for name in ("_t", "_acc", "_gyr", "_gn", "_en"):
                old = getattr(self, name)
                new = np.empty((cap, *old.shape[1:]))
                new[: self._n] = old[: self._n]
                setattr(self, name, new)
        s = slice(self._n, self._n + k)
        self._t[s] = t
        self._acc[s] = acc
        self._gyr[s] = gyr
        # Stance energy: angular rate and deviation of |acc| from gravity, each over its
        # stance limit (below 1 means "could be at rest").
        gn = np.sqrt((gyr * gyr).sum(axis=1))
        an = np.abs(np.sqrt((acc * acc).sum(axis=1)) - G_MPS2)
        self._gn[s] = gn
        self._en[s] = np.maximum(gn / self._gyr_scale, an / self._acc_scale)
        self._n += k

    def drop_before(self, index: int) -> None:
        """Forget samples before run index ``index`` (amortised: moves data rarely)."""
        k = index - self.base
        if k <= 0 or k < self._n // 2:
            return
        for name in ("_t", "_acc", "_gyr", "_gn", "_en"):
            arr = getattr(self, name)
            arr[: self._n - k] = arr[k : self._n].copy()
        self._n -= k
        self.base = index

    def _sl(self, start: int, stop: int) -> slice:
        return slice(start - self.base, stop - self.base)

    def t(self, start: int, stop: int) -> FloatArray:
        return self._t[self._sl(start, stop)]

    def acc(self, start: int, stop: int) -> FloatArray:
        return self._acc[self._sl(start, stop)]

    def gyr(self, start: int, stop: int) -> FloatArray:
        return self._gyr[self._sl(start, stop)]

    def gn(self, start: int, stop: int) -> FloatArray:
        return self._gn[self._sl(start, stop)]

    def energy(self, start: int, stop: int) -> FloatArray:
        return self._en[self._sl(start, stop)]

    def last_t(self) -> float | None:
        return float(self._t[self._n - 1]) if self._n else None
