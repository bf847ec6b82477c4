"""The team hub: many runners' edges -> one MQTT broker -> ``gaitcoach ingest`` workers ->
PostgreSQL -> team views (docs/hub.md).

Modules: ``schema`` (tables, roles), ``records`` (hostile payloads -> rows, checksums),
``db`` (upserts and reads with psycopg 3), ``ingest`` (shared-subscription workers and their
supervisor), ``sync`` (resumable upload of finished sessions from an edge's store),
``team`` (CLI and HTML views), ``commands`` (CLI registration). The real PostgreSQL and
Mosquitto that tests and benches start are test support (``tests/hub/pgserver.py``,
``tests/hub/broker.py``), not part of the package.

psycopg is an optional dependency (the ``hub`` extra): only these modules import it.
"""
