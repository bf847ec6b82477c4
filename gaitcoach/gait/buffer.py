"""A growable sample buffer for one continuous run of a pod's samples."""

from __future__ import annotations

import numpy as np

from gaitcoach.gait.kernel import stance_energy
from gaitcoach.types import FloatArray


def _plain(x: FloatArray) -> bool:
    return x.dtype == np.float64 and bool(x.flags.c_contiguous)


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
        self._owned = True
        """False while ``_t``, ``_acc``, ``_gyr`` are a caller's arrays (read only)."""

    @property
    def end(self) -> int:
        """Run index one past the last sample."""
        return self.base + self._n

    def append(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> None:
        """Add samples. A large first block is used in place, not copied (fresh memory costs
        more than the analysis); :meth:`detach` must be called before the caller gets its
        arrays back."""
        k = len(t)
        if self._n == 0 and k > len(self._t) and _plain(t) and _plain(acc) and _plain(gyr):
            self._t, self._acc, self._gyr = t, acc, gyr
            self._gn, self._en = np.empty(k), np.empty(k)
            self._owned = False
            self._n = k
            stance_energy(acc, gyr, self._gn, self._en, self._gyr_scale, self._acc_scale)
            return
        if not self._owned or self._n + k > len(self._t):
            self._grow(max(2 * len(self._t), self._n + k))
        s = slice(self._n, self._n + k)
        self._t[s] = t
        self._acc[s] = acc
        self._gyr[s] = gyr
        # Stance energy: angular rate and deviation of |acc| from gravity, each over its
        # stance limit (below 1 means "could be at rest").
        stance_energy(
            self._acc[s], self._gyr[s], self._gn[s], self._en[s], self._gyr_scale, self._acc_scale
        )
        self._n += k

    def _grow(self, cap: int) -> None:
        for name in ("_t", "_acc", "_gyr", "_gn", "_en"):
            old = getattr(self, name)
            new = np.empty((cap, *old.shape[1:]))
            new[: self._n] = old[: self._n]
            setattr(self, name, new)
        self._owned = True

    def detach(self) -> None:
        """Copy held samples that still live in a caller's arrays (see :meth:`append`)."""
        if not self._owned:
            self._grow(max(4096, 2 * self._n))

    def drop_before(self, index: int) -> None:
        """Forget samples before run index ``index`` (amortised: moves data rarely)."""
        k = index - self.base
        if k <= 0 or k < self._n // 2:
            return
        if not self._owned:
            # The caller's arrays: never written; keep views of the tail.
            for name in ("_t", "_acc", "_gyr", "_gn", "_en"):
                setattr(self, name, getattr(self, name)[k : self._n])
            self._n -= k
            self.base = index
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

    def views(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Time, acc, gyr, gyro norm and stance energy of the held samples (row 0 = ``base``;
        views: valid until the next ``append`` or ``drop_before``)."""
        n = self._n
        return self._t[:n], self._acc[:n], self._gyr[:n], self._gn[:n], self._en[:n]

    def last_t(self) -> float | None:
        return float(self._t[self._n - 1]) if self._n else None
