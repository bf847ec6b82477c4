from tests.mqtt.broker import mosquitto, tls_files  # noqa: F401 (pytest fixtures)
