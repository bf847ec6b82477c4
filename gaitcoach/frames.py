"""Physical constants and the one body frame used everywhere in gaitcoach.

Frames (all right-handed, SI units; see docs/frames.md):

* World frame ``W``: x forward (direction of travel at the start), y left, z up.
  Gravity is ``(0, 0, -G_MPS2)``.
* Foot frame ``F`` (the gait "body frame"), identical for the left and the right foot:
  ``pa`` = x, posterior -> anterior (toward the toes);
  ``ml`` = y, toward the runner's *left* (for both feet, unlike gaitmap which mirrors it);
  ``si`` = z, inferior -> superior (up, out of the sole).
  With the foot flat on level ground ``F`` and ``W`` differ only by the heading (yaw).
* Sensor frame ``S``: the pod's own axes; ``R_FS`` rotates sensor vectors into ``F``.

Foot pitch is positive *toes up* (dorsiflexion). Because +y points left, toes up is a
negative rotation about ``ml``: ``pitch = -angle_about_y``; the gyroscope's ``gyr_ml`` is
negative while the toes rise.

Accelerometers measure specific force ``f = a - g``: a foot at rest reads ``+G_MPS2`` on ``si``.
"""

from __future__ import annotations

import numpy as np

G_MPS2 = 9.80665
"""Standard gravity (m/s^2)."""

GRAVITY_W = np.array([0.0, 0.0, -G_MPS2])
"""Gravity vector in the world frame."""

AXES = ("pa", "ml", "si")
"""Names of the foot-frame axes in x, y, z order."""
