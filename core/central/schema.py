"""The central PostgreSQL schema: versioned migrations, the roles, row-level security.

Everything lives in the schema ``spg``. ``spg.schema_version`` holds one row per applied migration; the
newest number is the database's version. Compatibility rule, so an older outlet and a newer HQ can meet:
a migration only adds (tables, nullable columns, defaults, indexes), never renames or drops, so an outlet
built for version N keeps writing to a database at version N + k. An outlet refuses a database *older*
than :data:`MIN_VERSION_FOR_OUTLETS` with a sentence saying to run ``app.py hq init`` at HQ.

Roles (created by :func:`ensure_roles`, granted by the migrations):

* ``spg_outlet``  group of every outlet's login role. It may insert, update and read rows of its own
  outlet only: row-level security compares ``outlet_id`` with ``spg.outlet_of(current_user)``, the outlet that the
  logged-in role was registered for (``spg.outlets.role_name``). It never sees another outlet's rows.
* ``spg_hq_read`` group of HQ users: reads every row, writes nothing (except the gallery, when HQ enrols).

The admin (owner of the tables, the one who runs ``hq init``) bypasses row-level security as the owner;
no outlet ever holds its password.
"""

from __future__ import annotations

from typing import Any

import psycopg

OUTLET_GROUP = "spg_outlet"
HQ_READ_GROUP = "spg_hq_read"

# Tables holding one outlet's rows: every one has an ``outlet_id`` column and the same policies.
OUTLET_TABLES = ("outlet_status", "spgs", "transitions", "intervals", "alerts", "visitor_counts")

MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE IF NOT EXISTS spg.outlets (
        outlet_id   text PRIMARY KEY,
        name        text NOT NULL,
        timezone    text NOT NULL DEFAULT 'Asia/Jakarta',
        role_name   text UNIQUE,
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    -- the outlet a role was registered for (NULL for HQ users and the admin). SECURITY DEFINER so that
    -- policies can look it up without granting outlets the table; the role is passed in, because inside
    -- the function current_user is the definer.
    CREATE OR REPLACE FUNCTION spg.outlet_of(role text) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = spg, pg_temp
        AS $$ SELECT outlet_id FROM spg.outlets WHERE role_name = role $$;

    -- heartbeat every 30 s: one row per outlet, overwritten
    CREATE TABLE IF NOT EXISTS spg.outlet_status (
        outlet_id       text PRIMARY KEY REFERENCES spg.outlets ON DELETE CASCADE,
        name            text,
        timezone        text,
        last_heartbeat  timestamptz NOT NULL,
        cameras_live    integer NOT NULL DEFAULT 0,
        cameras_total   integer NOT NULL DEFAULT 0,
        engine          text,
        app_version     text,
        events_waiting  integer NOT NULL DEFAULT 0
    );
    -- the SPGs an outlet knows; present / on shift as of the last heartbeat
    CREATE TABLE IF NOT EXISTS spg.spgs (
        outlet_id  text NOT NULL REFERENCES spg.outlets ON DELETE CASCADE,
        spg_id     text NOT NULL,
        name       text NOT NULL,
        active     boolean NOT NULL DEFAULT true,
        state      text,
        on_shift   boolean,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (outlet_id, spg_id)
    );
    -- presence transitions; event_key is the outlet's idempotent key (a replay writes nothing twice),
    -- seq the outlet's local order
    CREATE TABLE IF NOT EXISTS spg.transitions (
        outlet_id   text NOT NULL REFERENCES spg.outlets ON DELETE CASCADE,
        event_key   text NOT NULL,
        seq         bigint NOT NULL,
        spg_id      text NOT NULL,
        from_state  text NOT NULL,
        to_state    text NOT NULL,
        ts          timestamptz NOT NULL,
        camera_id   text,
        alert       boolean NOT NULL DEFAULT false,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (outlet_id, event_key)
    );
    CREATE INDEX IF NOT EXISTS transitions_ts ON spg.transitions (ts);
    CREATE INDEX IF NOT EXISTS transitions_outlet_seq ON spg.transitions (outlet_id, seq);
    -- presence intervals (upserted: an open interval grows)
    CREATE TABLE IF NOT EXISTS spg.intervals (
        outlet_id    text NOT NULL REFERENCES spg.outlets ON DELETE CASCADE,
        interval_key text NOT NULL,
        spg_id       text NOT NULL,
        start_ts     timestamptz NOT NULL,
        last_seen    timestamptz NOT NULL,
        closed       boolean NOT NULL DEFAULT false,
        PRIMARY KEY (outlet_id, interval_key)
    );
    CREATE INDEX IF NOT EXISTS intervals_spg ON spg.intervals (spg_id, start_ts);
    -- alerts and their delivery state (upserted as the state moves); no photo: face data stays at the outlet
    CREATE TABLE IF NOT EXISTS spg.alerts (
        outlet_id  text NOT NULL REFERENCES spg.outlets ON DELETE CASCADE,
        alert_key  text NOT NULL,
        spg_id     text,
        kind       text NOT NULL,
        text       text NOT NULL,
        created    timestamptz NOT NULL,
        status     text NOT NULL,
        sent_at    timestamptz,
        PRIMARY KEY (outlet_id, alert_key)
    );
    CREATE INDEX IF NOT EXISTS alerts_created ON spg.alerts (created);
    -- unknown visitors counted per local hour
    CREATE TABLE IF NOT EXISTS spg.visitor_counts (
        outlet_id  text NOT NULL REFERENCES spg.outlets ON DELETE CASCADE,
        hour_start timestamptz NOT NULL,
        visitors   integer NOT NULL,
        PRIMARY KEY (outlet_id, hour_start)
    );

    -- gallery sharing (central.share_gallery): brand-wide SPG identities, their samples and assignments.
    -- version is a brand-wide counter: an outlet pulls what changed since the version it last applied.
    CREATE SEQUENCE IF NOT EXISTS spg.gallery_version_seq;
    CREATE TABLE IF NOT EXISTS spg.gallery_people (
        spg_id        text PRIMARY KEY,
        name          text NOT NULL,
        removed       boolean NOT NULL DEFAULT false,
        origin_outlet text,
        version       bigint NOT NULL DEFAULT nextval('spg.gallery_version_seq'),
        updated_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS spg.gallery_samples (
        spg_id    text NOT NULL REFERENCES spg.gallery_people ON DELETE CASCADE,
        sample_id text NOT NULL,
        model_id  text NOT NULL,
        embedding bytea NOT NULL,
        photo     bytea,
        bbox      real[],
        version   bigint NOT NULL DEFAULT nextval('spg.gallery_version_seq'),
        PRIMARY KEY (spg_id, sample_id)
    );
    CREATE TABLE IF NOT EXISTS spg.gallery_assignments (
        spg_id    text NOT NULL REFERENCES spg.gallery_people ON DELETE CASCADE,
        outlet_id text NOT NULL REFERENCES spg.outlets ON DELETE CASCADE,
        version   bigint NOT NULL DEFAULT nextval('spg.gallery_version_seq'),
        PRIMARY KEY (spg_id, outlet_id)
    );
    -- every change takes a new version, whoever writes it (an outlet publishing, HQ renaming or removing), so
    -- an outlet comparing versions never misses one. A removal is final: no outlet may take it back.
    CREATE OR REPLACE FUNCTION spg.gallery_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.version := nextval('spg.gallery_version_seq');
        IF TG_TABLE_NAME = 'gallery_people' THEN
            NEW.updated_at := now();
            IF OLD.removed AND NOT NEW.removed AND spg.outlet_of(current_user) IS NOT NULL THEN
                RAISE EXCEPTION 'SPG % was removed at HQ; an outlet cannot restore them', OLD.spg_id
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END IF;
        RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS versioned ON spg.gallery_people;
    CREATE TRIGGER versioned BEFORE UPDATE ON spg.gallery_people
        FOR EACH ROW EXECUTE FUNCTION spg.gallery_versioned();
    DROP TRIGGER IF EXISTS versioned ON spg.gallery_samples;
    CREATE TRIGGER versioned BEFORE UPDATE ON spg.gallery_samples
        FOR EACH ROW EXECUTE FUNCTION spg.gallery_versioned();
    DROP TRIGGER IF EXISTS versioned ON spg.gallery_assignments;
    CREATE TRIGGER versioned BEFORE UPDATE ON spg.gallery_assignments
        FOR EACH ROW EXECUTE FUNCTION spg.gallery_versioned();
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
MIN_VERSION_FOR_OUTLETS = 1
"""The oldest central schema this build's outlets can write to."""


def _outlet_table_policies(table: str) -> str:
    # Drop-and-create keeps this idempotent: `hq init` re-applies it after every migration.
    return f"""
    ALTER TABLE spg.{table} ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS outlet_own_rows ON spg.{table};
    CREATE POLICY outlet_own_rows ON spg.{table} TO {OUTLET_GROUP}
        USING (outlet_id = spg.outlet_of(current_user)) WITH CHECK (outlet_id = spg.outlet_of(current_user));
    DROP POLICY IF EXISTS hq_reads_all ON spg.{table};
    CREATE POLICY hq_reads_all ON spg.{table} FOR SELECT TO {HQ_READ_GROUP} USING (true);
    GRANT SELECT, INSERT, UPDATE ON spg.{table} TO {OUTLET_GROUP};
    GRANT SELECT ON spg.{table} TO {HQ_READ_GROUP};
    """


def security_sql() -> str:
    """Grants and row-level security policies for the current schema (idempotent)."""
    parts = [
        f"GRANT USAGE ON SCHEMA spg TO {OUTLET_GROUP}, {HQ_READ_GROUP};",
        f"GRANT EXECUTE ON FUNCTION spg.outlet_of(text) TO {OUTLET_GROUP}, {HQ_READ_GROUP};",
        # outlets: an outlet sees only its own registration row; HQ sees all
        "ALTER TABLE spg.outlets ENABLE ROW LEVEL SECURITY;",
        "DROP POLICY IF EXISTS outlet_own_row ON spg.outlets;",
        f"CREATE POLICY outlet_own_row ON spg.outlets FOR SELECT TO {OUTLET_GROUP} "
        "USING (outlet_id = spg.outlet_of(current_user));",
        "DROP POLICY IF EXISTS hq_reads_all ON spg.outlets;",
        f"CREATE POLICY hq_reads_all ON spg.outlets FOR SELECT TO {HQ_READ_GROUP} USING (true);",
        f"GRANT SELECT ON spg.outlets TO {OUTLET_GROUP}, {HQ_READ_GROUP};",
        f"GRANT SELECT ON spg.schema_version TO {OUTLET_GROUP}, {HQ_READ_GROUP};",
    ]
    parts += [_outlet_table_policies(t) for t in OUTLET_TABLES]
    # Gallery (sharing): an outlet reads the people assigned to it and their samples, and may publish people
    # it enrolled itself (origin_outlet); HQ reads everything. Removal is written by HQ (the admin).
    parts.append(f"""
    ALTER TABLE spg.gallery_assignments ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS outlet_own_rows ON spg.gallery_assignments;
    CREATE POLICY outlet_own_rows ON spg.gallery_assignments TO {OUTLET_GROUP}
        USING (outlet_id = spg.outlet_of(current_user)) WITH CHECK (outlet_id = spg.outlet_of(current_user));
    ALTER TABLE spg.gallery_people ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS outlet_assigned ON spg.gallery_people;
    CREATE POLICY outlet_assigned ON spg.gallery_people FOR SELECT TO {OUTLET_GROUP}
        USING (origin_outlet = spg.outlet_of(current_user) OR EXISTS (SELECT 1 FROM spg.gallery_assignments a
               WHERE a.spg_id = gallery_people.spg_id AND a.outlet_id = spg.outlet_of(current_user)));
    DROP POLICY IF EXISTS outlet_publishes ON spg.gallery_people;
    CREATE POLICY outlet_publishes ON spg.gallery_people FOR INSERT TO {OUTLET_GROUP}
        WITH CHECK (origin_outlet = spg.outlet_of(current_user));
    DROP POLICY IF EXISTS outlet_updates_own ON spg.gallery_people;
    CREATE POLICY outlet_updates_own ON spg.gallery_people FOR UPDATE TO {OUTLET_GROUP}
        USING (origin_outlet = spg.outlet_of(current_user)) WITH CHECK (origin_outlet = spg.outlet_of(current_user));
    ALTER TABLE spg.gallery_samples ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS outlet_assigned ON spg.gallery_samples;
    CREATE POLICY outlet_assigned ON spg.gallery_samples TO {OUTLET_GROUP}
        USING (EXISTS (SELECT 1 FROM spg.gallery_people p WHERE p.spg_id = gallery_samples.spg_id))
        WITH CHECK (EXISTS (SELECT 1 FROM spg.gallery_people p WHERE p.spg_id = gallery_samples.spg_id
                            AND p.origin_outlet = spg.outlet_of(current_user)));
    """)
    for t in ("gallery_people", "gallery_samples", "gallery_assignments"):
        parts.append(f"DROP POLICY IF EXISTS hq_reads_all ON spg.{t};")
        parts.append(f"CREATE POLICY hq_reads_all ON spg.{t} FOR SELECT TO {HQ_READ_GROUP} USING (true);")
        parts.append(f"GRANT SELECT ON spg.{t} TO {HQ_READ_GROUP};")
    parts.append(f"GRANT SELECT, INSERT, UPDATE ON spg.gallery_people, spg.gallery_samples TO {OUTLET_GROUP};")
    parts.append(f"GRANT SELECT ON spg.gallery_assignments TO {OUTLET_GROUP};")
    parts.append(f"GRANT USAGE ON SEQUENCE spg.gallery_version_seq TO {OUTLET_GROUP};")
    return "\n".join(parts)


def ensure_roles_sql() -> str:
    """The two group roles (no login), created when missing."""
    return "\n".join(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{r}') THEN "
        f"CREATE ROLE {r} NOLOGIN; END IF; END $$;"
        for r in (OUTLET_GROUP, HQ_READ_GROUP)
    )


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the central schema to :data:`SCHEMA_VERSION` (as the admin), roles and policies included.

    Runs in one transaction under an advisory lock, so two admins running ``hq init`` at once cannot
    apply a migration twice. Returns the version now in the database."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(74651201)")
        conn.execute("CREATE SCHEMA IF NOT EXISTS spg")
        conn.execute("CREATE TABLE IF NOT EXISTS spg.schema_version ("
                     "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM spg.schema_version").fetchone()
        current = int(row[0]) if row else 0
        for number, sql in enumerate(MIGRATIONS, start=1):
            if number > current:
                conn.execute(sql.encode())
                conn.execute("INSERT INTO spg.schema_version (version) VALUES (%s)", (number,))
        conn.execute(ensure_roles_sql().encode())
        conn.execute(security_sql().encode())
    return max(current, SCHEMA_VERSION)


def database_version(conn: psycopg.Connection[Any]) -> int:
    """The central schema's version (0: never initialised)."""
    row = conn.execute("SELECT to_regclass('spg.schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM spg.schema_version").fetchone()
    return int(row[0]) if row else 0
