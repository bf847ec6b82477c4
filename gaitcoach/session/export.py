"""Export a session's strides as CSV or Parquet (one row per stride, SI units in the names).
Parquet needs the ``parquet`` extra (pyarrow, 170 MB): imported only for it."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from gaitcoach.session.store import STRIDE_SCHEMA, stride_to_row
from gaitcoach.types import StrideRecord

FORMATS = ("csv", "parquet")
COLUMNS = tuple(c.field for c in STRIDE_SCHEMA)
"""Export column names: the StrideRecord attributes (``index``, not the stored ``idx``)."""


def export_strides(strides: Sequence[StrideRecord], path: Path, fmt: str) -> int:
    """Write ``strides`` to ``path``; returns the number of rows."""
    rows = [stride_to_row(s) for s in strides]
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for r in rows:
                w.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in r])
    elif fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(
                "Parquet export needs pyarrow: pip install 'gaitcoach[parquet]'"
            ) from None
        types = {float: pa.float64(), int: pa.int64()}
        schema = pa.schema([(c.field, types.get(c.kind, pa.string())) for c in STRIDE_SCHEMA])
        cols = {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}
        pq.write_table(pa.table(cols, schema=schema), path)
    else:
        raise ValueError(f"unknown export format {fmt!r} (allowed: {', '.join(FORMATS)})")
    return len(rows)
