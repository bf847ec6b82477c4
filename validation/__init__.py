"""Validation of the gait engine against simulator truth and real recordings.

Not part of the installed product: tests and ``./run bench accuracy`` use it.
:mod:`validation.datasets` loads the recordings in ``../shared/data``,
:mod:`validation.scoring` matches estimates to references, :mod:`validation.reference`
runs the engine on each data set and reports the figures of docs/validation.md.
"""
