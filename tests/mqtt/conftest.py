from tests.mqtt.broker import (  # noqa: F401 (pytest fixtures)
    mosquitto,
    mosquitto_auth,
    mosquitto_persistent,
    mosquitto_tls,
    tls_files,
)
