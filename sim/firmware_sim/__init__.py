"""firmware_sim: a physically consistent running-gait model that synthesises footpod IMU data
with exact ground truth, and virtual footpods served through a virtual BlueZ."""

__version__ = "0.1.0"
