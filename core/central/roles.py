"""Registering an outlet at HQ: its own login role, limited by row-level security to its own rows.

``app.py hq add-outlet`` calls :func:`add_outlet` as the admin and prints the URL it returns once; the
password is generated here and stored nowhere else (PostgreSQL keeps only its SCRAM hash).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from core.central.schema import HQ_READ_GROUP, OUTLET_GROUP

_OUTLET_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class OutletIdError(ValueError):
    """An outlet id that cannot be registered; the message says what is allowed."""


@dataclass(frozen=True, slots=True)
class NewLogin:
    role: str
    password: str


def role_name(database: str, kind: str, ident: str) -> str:
    """Roles are cluster-wide, so the database's name is part of them (two brands, or two test databases,
    on one server never share an outlet's role). Lower case, [a-z0-9_], at most 63 bytes: a longer name keeps
    its start and ends with a digest of the whole, so two outlets of a long-named database never collide."""
    safe = re.sub(r"[^a-z0-9_]", "_", f"spg_{database}_{kind}_{ident}".lower())
    if len(safe) <= 63:
        return safe
    return f"{safe[:50]}_{hashlib.sha256(safe.encode()).hexdigest()[:12]}"


def _create_login(conn: psycopg.Connection[Any], role: str, group: str) -> str:
    password = secrets.token_urlsafe(24)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))
    return password


def add_outlet(conn: psycopg.Connection[Any], outlet_id: str, name: str, timezone: str = "Asia/Jakarta") -> NewLogin:
    """Register (or re-key) an outlet and return its login. Re-running for a known outlet issues a new
    password (the old one stops working): the way to replace a lost or leaked outlet URL."""
    if not _OUTLET_ID.match(outlet_id):
        raise OutletIdError(f"outlet id {outlet_id!r} is not allowed: use 1-40 letters, digits, '_', '-' or '.'")
    with conn.transaction():
        row = conn.execute("SELECT current_database()").fetchone()
        database = str(row[0]) if row else "spg"
        role = role_name(database, "outlet", outlet_id)
        password = _create_login(conn, role, OUTLET_GROUP)
        conn.execute(
            "INSERT INTO spg.outlets (outlet_id, name, timezone, role_name) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (outlet_id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone, "
            "role_name = EXCLUDED.role_name", (outlet_id, name, timezone, role))
    return NewLogin(role, password)


def add_hq_reader(conn: psycopg.Connection[Any], user: str) -> NewLogin:
    """A login for an HQ user: reads every outlet's rows, writes none."""
    with conn.transaction():
        row = conn.execute("SELECT current_database()").fetchone()
        database = str(row[0]) if row else "spg"
        role = role_name(database, "hq", user)
        return NewLogin(role, _create_login(conn, role, HQ_READ_GROUP))


def login_url(admin_url: str, login: NewLogin) -> str:
    """The admin URL with the user and password replaced by ``login``'s (host, port, database and TLS
    options kept)."""
    params = conninfo_to_dict(admin_url)
    host = params.get("host", "localhost")
    port = params.get("port", "5432")
    dbname = params.get("dbname", "postgres")
    extra = {k: v for k, v in params.items() if k not in ("host", "port", "dbname", "user", "password")}
    query = ("?" + urlencode(extra)) if extra else ""
    return f"postgresql://{quote(login.role, safe='')}:{quote(login.password, safe='')}@{host}:{port}/{dbname}{query}"
