"""Both feet: step time, flight time and two-foot cadence, independent of arrival order.

A stride of one foot is held until the other foot's analysis is final past the stride's end
(its ``horizon_s_``), then completed from the other foot's initial contacts. The values
depend only on data content, so streaming in any chunking equals batch. One-foot values are
used when the other foot has a gap over the needed time, or at the end of data.
"""

from __future__ import annotations

import bisect
from dataclasses import fields
from operator import attrgetter

from gaitcoach.types import Gap, StrideRecord

_SLOTS = tuple(f.name for f in fields(StrideRecord))
_VALUES = attrgetter(*_SLOTS)
_STEP = _SLOTS.index("step_time_s")
_FLIGHT = _SLOTS.index("flight_time_s")


def _overlaps(gaps: list[Gap], start_s: float, end_s: float) -> bool:
    return any(g.start_s < end_s and g.end_s > start_s for g in gaps)


def complete_stride(
    stride: StrideRecord, other_ics_s: list[float], other_gaps: list[Gap], max_step_s: float
) -> StrideRecord:
    """Fill the bilateral fields of ``stride`` from the other foot's sorted contact times.

    * ``step_time_s``: from the other foot's last contact before this IC.
    * ``flight_time_s``: from this toe-off to the other foot's first contact after this
      contact (negative while both feet are on the ground, as in walking).
    * ``cadence_spm`` stays ``120 / stride time``: with both feet it is 60 / the mean of the
      two steps inside the stride (this foot's and the other's), which is the same number
      whenever the feet alternate (docs/metrics.md).
    """
    i = bisect.bisect_left(other_ics_s, stride.ic_s)
    prev_ic = other_ics_s[i - 1] if i > 0 else None
    j = bisect.bisect_right(other_ics_s, stride.ic_s)
    next_ic = other_ics_s[j] if j < len(other_ics_s) else None
    step = flight = None
    if (
        prev_ic is not None
        and 0 < stride.ic_s - prev_ic <= max_step_s
        and not (other_gaps and _overlaps(other_gaps, prev_ic, stride.ic_s))
    ):
        step = stride.ic_s - prev_ic
    if (
        next_ic is not None
        and next_ic < stride.end_ic_s
        and not (other_gaps and _overlaps(other_gaps, stride.to_s, next_ic))
    ):
        flight = next_ic - stride.to_s
    if step is None and flight is None:
        return stride
    # A frozen slotted record: all values at once, two replaced (replace() is slower).
    values = list(_VALUES(stride))
    values[_STEP] = step
    values[_FLIGHT] = flight
    return StrideRecord(*values)
