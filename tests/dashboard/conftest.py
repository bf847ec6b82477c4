from tests.mqtt.broker import tls_files  # noqa: F401 (pytest fixture)
