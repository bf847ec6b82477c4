"""The hub's PostgreSQL schema and its roles (docs/hub.md, "Database").

Everything lives in the schema ``hub``. Keys are the stable ids the edges send: a stride is
(runner, session, foot, stride index), a cue (runner, session, cue id), a session (runner,
session id); the runner always comes from the MQTT topic, which the broker's ACL ties to the
credentials, never from a payload field alone. Writes are upserts on these keys, so a
message delivered twice (QoS 1 is at least once) is stored once.

Roles, one per purpose (no role may delete, truncate or change the schema):

- ``gaitcoach_ingest``: SELECT, INSERT, UPDATE (the ingest workers);
- ``gaitcoach_view``: SELECT (``gaitcoach team``, the HTML page);
- the objects belong to ``gaitcoach_owner`` (NOLOGIN), which the administrator runs
  :func:`setup` as.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from gaitcoach.session.store import STRIDE_SCHEMA, StrideColumn
from gaitcoach.types import Foot

INGEST_ROLE = "gaitcoach_ingest"
VIEW_ROLE = "gaitcoach_view"
OWNER_ROLE = "gaitcoach_owner"
SCHEMA_VERSION = 1

STRIDE_VALUES = tuple(c for c in STRIDE_SCHEMA if c.name not in ("foot", "idx"))
"""The stride columns beside the key, from the edge store's (derived from StrideRecord)."""
STRIDE_VALUE_COLUMNS = tuple(c.name for c in STRIDE_VALUES)
"""Stride fields beside the key (the edge store's column names; ``index`` is ``idx``)."""
STRIDE_TEXT_COLUMNS = frozenset(c.name for c in STRIDE_VALUES if issubclass(c.kind, StrEnum))
"""Value columns holding an enum's value (text); the others are numbers (double precision)."""
for _c in STRIDE_VALUES:
    if _c.kind is not float and _c.name not in STRIDE_TEXT_COLUMNS:
        raise TypeError(f"stride column {_c.name}: the hub stores only numbers and enum values")


def _stride_column(c: StrideColumn) -> str:
    kind = "text" if c.name in STRIDE_TEXT_COLUMNS else "double precision"
    return f"{c.name} {kind}" + ("" if c.optional else " NOT NULL")


RUNNER_CHECK = r"runner ~ '^[A-Za-z0-9_-]{1,64}$'"
SESSION_CHECK = r"session_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'"

DDL = f"""
CREATE SCHEMA IF NOT EXISTS hub AUTHORIZATION {OWNER_ROLE};
SET search_path = hub;
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT (key) DO NOTHING;

-- One row per runner seen; the latest live metrics (QoS 0, newest wins).
CREATE TABLE IF NOT EXISTS runners (
    runner text PRIMARY KEY CHECK ({RUNNER_CHECK}),
    first_seen timestamptz NOT NULL DEFAULT clock_timestamp(),
    live_t_unix_s double precision,
    live jsonb
);

-- A session: from its first live stride (status 'live'), the edge's summary message, or sync
-- (the edge's own record: status, times, counts).
CREATE TABLE IF NOT EXISTS sessions (
    runner text NOT NULL CHECK ({RUNNER_CHECK}),
    session_id text NOT NULL CHECK ({SESSION_CHECK}),
    status text NOT NULL DEFAULT 'live',
    started_utc timestamptz,
    ended_utc timestamptz,
    leg_length_m double precision,
    first_t_s double precision,
    last_t_s double precision,
    edge_strides integer,
    edge_cues integer,
    synced_at timestamptz,
    summary jsonb,
    summary_t_unix_s double precision,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (runner, session_id)
);

-- Strides: the edge's StrideRecord fields exactly (times on the edge's service clock),
-- t_unix_s as published live (NULL when the row came by sync), ingested_at when written.
CREATE TABLE IF NOT EXISTS strides (
    runner text NOT NULL,
    session_id text NOT NULL,
    foot text NOT NULL CHECK (foot IN ({", ".join(f"'{f.value}'" for f in Foot)})),
    idx integer NOT NULL CHECK (idx >= 0),
    {", ".join(_stride_column(c) for c in STRIDE_VALUES)},
    t_unix_s double precision,
    ingested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (runner, session_id, foot, idx)
);

CREATE TABLE IF NOT EXISTS cues (
    runner text NOT NULL,
    session_id text NOT NULL,
    cue_id text NOT NULL,
    kind text NOT NULL,
    text text NOT NULL,
    priority integer NOT NULL,
    level integer NOT NULL,
    created_s double precision,
    created_unix_s double precision,
    expires_s double precision,
    trigger jsonb NOT NULL,
    metronome_spm double precision,
    ingested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (runner, session_id, cue_id)
);
"""

GRANTS = f"""
REVOKE ALL ON SCHEMA hub FROM PUBLIC;
GRANT USAGE ON SCHEMA hub TO {INGEST_ROLE}, {VIEW_ROLE};
REVOKE ALL ON ALL TABLES IN SCHEMA hub FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA hub TO {INGEST_ROLE};
GRANT SELECT ON ALL TABLES IN SCHEMA hub TO {VIEW_ROLE};
"""


def _ensure_role(conn: Any, name: str, password: str | None, login: bool) -> None:
    from psycopg import sql

    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    opts = sql.SQL("LOGIN PASSWORD {}").format(password) if login else sql.SQL("NOLOGIN")
    if login and password is None:
        opts = sql.SQL("LOGIN")
    conn.execute(sql.SQL(verb + " ROLE {} " + "{}").format(sql.Identifier(name), opts))


def setup(
    admin_dsn: str,
    ingest_password: str | None,
    view_password: str | None,
    dbname: str | None = None,
) -> None:
    """Create (or update) the roles, the schema, the tables and the grants; idempotent.

    Run with a superuser (or a role with CREATEROLE that owns the database). A password of
    None leaves an existing role's password as it is.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        db = dbname or conn.info.dbname
        _ensure_role(conn, OWNER_ROLE, None, login=False)
        _ensure_role(conn, INGEST_ROLE, ingest_password, login=True)
        _ensure_role(conn, VIEW_ROLE, view_password, login=True)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(
                sql.Identifier(db), sql.Identifier(INGEST_ROLE), sql.Identifier(VIEW_ROLE)
            )
        )
        # The ingest workers stage each batch in a temporary table (COPY, then one upsert).
        conn.execute(
            sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(db), sql.Identifier(INGEST_ROLE)
            )
        )
        # The owner role creates the schema; the administrator acts as it for the DDL.
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(OWNER_ROLE)))
        conn.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(db), sql.Identifier(OWNER_ROLE)
            )
        )
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER_ROLE)))
            conn.execute(DDL)
            conn.execute(GRANTS)
