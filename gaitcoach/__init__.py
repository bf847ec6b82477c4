"""gaitcoach: live running-gait feedback from shoe-mounted IMU footpods."""

__version__ = "0.1.0"
