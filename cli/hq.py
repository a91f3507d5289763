"""``app.py hq ...``: the brand's central PostgreSQL.

    app.py hq --db URL                                   open the HQ console (no cameras; app.py opens ui/)
    app.py hq init --db ADMIN_URL                        create / migrate the schema and the roles
    app.py hq add-outlet --db ADMIN_URL --outlet ID --name NAME [--timezone TZ]
                                                         register an outlet; prints its connection URL once
    app.py hq add-reader --db ADMIN_URL --user NAME     a read-only login for an HQ user (for the HQ console);
                                                         prints its connection URL once
    app.py hq outlets --db URL                           one JSON object per outlet
    app.py hq events --db URL [--outlet ID] [--since ISO8601]   one JSON object per transition
    app.py hq gallery list --db URL                      the shared SPGs, one JSON object each
    app.py hq gallery assign|unassign --db ADMIN_URL --spg ID --outlet ID
    app.py hq gallery remove --db ADMIN_URL --spg ID     brand-wide: every outlet erases the SPG's face data
    app.py hq gallery enroll --db ADMIN_URL --spg ID --name NAME --photo FILE...   embedded here, at HQ

``--db`` may be left out when ``SPG_CENTRAL_URL`` (environment or the data folder's ``.env``) holds the URL.
The password in a URL is never printed back (errors name the server with it masked).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cli.common import config_from_args, fail, run_guarded
from core.config import ENV_CENTRAL_URL, ConfigError

if TYPE_CHECKING:
    from core.central.gallery_admin import CentralSample



def _iso_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time; use e.g. 2026-11-25T08:00:00+07:00") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None, help=f"postgresql:// URL (default: ${ENV_CENTRAL_URL})")
    sub = p.add_subparsers(dest="hq_action", metavar="ACTION")
    sub.add_parser("init", help="create or migrate the central schema and roles (admin URL)").add_argument(
        "--db", metavar="URL", default=argparse.SUPPRESS)
    add = sub.add_parser("add-outlet", help="register an outlet and print its connection URL (admin URL)")
    add.add_argument("--db", metavar="URL", default=argparse.SUPPRESS)
    add.add_argument("--outlet", required=True, metavar="ID")
    add.add_argument("--name", required=True)
    add.add_argument("--timezone", default="Asia/Jakarta", metavar="TZ")
    reader = sub.add_parser("add-reader", help="create a read-only HQ login and print its connection URL (admin URL)")
    reader.add_argument("--db", metavar="URL", default=argparse.SUPPRESS)
    reader.add_argument("--user", required=True, metavar="NAME")
    sub.add_parser("outlets", help="one JSON object per outlet").add_argument(
        "--db", metavar="URL", default=argparse.SUPPRESS)
    ev = sub.add_parser("events", help="one JSON object per presence transition")
    ev.add_argument("--db", metavar="URL", default=argparse.SUPPRESS)
    ev.add_argument("--outlet", default=None, metavar="ID")
    ev.add_argument("--since", type=_iso_time, default=None, metavar="ISO8601")
    _add_gallery_arguments(sub.add_parser("gallery", help="gallery sharing: SPGs who move between outlets"))


def _add_gallery_arguments(p: argparse.ArgumentParser) -> None:
    from cli.common import action_options

    sub = p.add_subparsers(dest="gallery_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help_text)
        a.add_argument("--db", metavar="URL", default=argparse.SUPPRESS)
        return a

    action("list", "the shared SPGs: one JSON object each")
    for name, text in (("assign", "make an SPG available at an outlet (admin URL)"),
                       ("unassign", "take an SPG away from an outlet; it erases their face data (admin URL)")):
        a = action(name, text)
        a.add_argument("--spg", required=True, metavar="ID")
        a.add_argument("--outlet", required=True, metavar="ID")
    action("remove", "remove an SPG brand-wide; every outlet erases their face data (admin URL)").add_argument(
        "--spg", required=True, metavar="ID")
    en = action_options(action("enroll", "enroll an SPG at HQ from photos, embedded with the configured engine"))
    en.add_argument("--spg", required=True, metavar="ID")
    en.add_argument("--name", required=True)
    en.add_argument("--photo", required=True, nargs="+", metavar="FILE")


def database_url(args: argparse.Namespace) -> str | None:
    """``--db``, else what the one config loader resolved: ``SPG_CENTRAL_URL`` (environment, the data folder's
    ``.env``) over ``central.url``."""
    from core.config import central_url

    return getattr(args, "db", None) or central_url(config_from_args(args))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _outlets(url: str) -> int:
    from core.central.hq_queries import HqQueries

    q = HqQueries(url)
    try:
        for o in q.outlets():
            print(json.dumps({"outlet_id": o.outlet_id, "name": o.name, "online": o.online,
                              "last_heartbeat": _iso(o.last_heartbeat), "spgs": o.spgs, "present": o.present}))
    finally:
        q.close()
    return 0


def _events(url: str, outlet: str | None, since: datetime | None) -> int:
    from core.central.hq_queries import HqQueries

    q = HqQueries(url)
    try:
        for t in q.transitions(outlet, since):
            print(json.dumps({"outlet_id": t.outlet_id, "spg_id": t.spg_id, "from": t.from_state,
                              "to": t.to_state, "timestamp": _iso(t.timestamp), "alert": t.alert}))
    finally:
        q.close()
    return 0


def _init(url: str) -> int:
    import psycopg

    from core.central.schema import migrate

    with psycopg.connect(url) as conn:
        version = migrate(conn)
    print(f"central schema at version {version}", file=sys.stderr)
    return 0


def _add_outlet(url: str, outlet: str, name: str, tz: str) -> int:
    import psycopg

    from core.central.roles import OutletIdError, add_outlet, login_url

    try:
        with psycopg.connect(url) as conn:
            login = add_outlet(conn, outlet, name, tz)
    except OutletIdError as exc:
        return fail(str(exc))
    print(login_url(url, login))
    print("Give this URL to the outlet (Settings -> Central database, or SPG_CENTRAL_URL in its .env). "
          "It is shown only now.", file=sys.stderr)
    return 0


def _add_reader(url: str, user: str) -> int:
    import psycopg

    from core.central.roles import add_hq_reader, login_url

    with psycopg.connect(url) as conn:
        login = add_hq_reader(conn, user)
    print(login_url(url, login))
    print("Open the HQ console with it: app.py hq --db URL (or SPG_CENTRAL_URL). It reads every outlet and writes "
          "nothing. It is shown only now.", file=sys.stderr)
    return 0


def _gallery(url: str, args: argparse.Namespace) -> int:
    import psycopg

    from core.central import gallery_admin as ga

    action = args.gallery_action
    samples: list[ga.CentralSample] = []
    if action == "enroll":
        from core.gallery import GalleryError, check_spg_id

        try:
            check_spg_id(args.spg)
        except GalleryError as exc:
            return fail(str(exc))
        if not args.name.strip():
            return fail("the name cannot be empty")
        samples = _embed_photos(args)
        if not samples:
            return fail("no photo could be used; nothing was stored")
    try:
        with psycopg.connect(url) as conn:
            if action == "list":
                for p in ga.list_people(conn):
                    print(json.dumps({"spg_id": p.spg_id, "name": p.name, "removed": p.removed,
                                      "origin_outlet": p.origin_outlet, "outlets": p.outlets, "samples": p.samples,
                                      "models": p.models, "version": p.version}))
            elif action == "assign":
                new = ga.assign(conn, args.spg, args.outlet)
                print(f"{args.spg} {'assigned to' if new else 'was already assigned to'} {args.outlet}; "
                      "the outlet pulls them at its next sync", file=sys.stderr)
            elif action == "unassign":
                ga.unassign(conn, args.spg, args.outlet)
                print(f"{args.spg} taken from {args.outlet}; their face data is erased there at its next sync",
                      file=sys.stderr)
            elif action == "remove":
                outlets = ga.remove(conn, args.spg)
                print(f"{args.spg} removed: photos and embeddings deleted centrally; erased at "
                      f"{', '.join(outlets) or 'no outlet'} when each next connects", file=sys.stderr)
            elif action == "enroll":
                ga.enroll(conn, args.spg, args.name.strip(), samples)
                print(f"{args.spg} enrolled at HQ with {len(samples)} photo(s); assign them to outlets with "
                      "'app.py hq gallery assign'", file=sys.stderr)
    except ga.GalleryAdminError as exc:
        return fail(str(exc))
    except psycopg.errors.InsufficientPrivilege:
        return fail("this login may not change the shared gallery; use the admin URL (the one given to hq init)")
    return 0


def _embed_photos(args: argparse.Namespace) -> list[CentralSample]:
    """Each photo's one usable face, embedded with the configured engine (refused photos named on stderr)."""
    from cli.common import config_from_args
    from core.central.gallery_admin import CentralSample  # noqa: F811 (the runtime import of the annotation's class)
    from core.engine.factory import create_engine
    from core.enrollment import EnrollmentError, prepare_photo
    from core.paths import DataLayout

    cfg = config_from_args(args)
    engine = create_engine(cfg.engine, DataLayout(cfg.resolved_data_dir()).ensure().root)
    accepted = []
    for photo in args.photo:
        try:
            accepted.append(prepare_photo(engine, photo, cfg.engine))
        except EnrollmentError as exc:
            print(f"warning: {exc}", file=sys.stderr)
    if not accepted:
        return []
    embeddings = engine.embed_chips([fs.chip for fs in accepted])
    return [CentralSample(model_id=engine.info.model_id, embedding=e, photo=fs.photo_bytes,
                          bbox=[float(v) for v in fs.face.bbox]) for fs, e in zip(accepted, embeddings)]


def main(args: argparse.Namespace) -> int:
    import psycopg

    from core.secrets import mask_url, register_secret, url_password

    try:
        url = database_url(args)
    except ConfigError as exc:
        return fail(str(exc))
    if not url:
        return fail(f"no database: give --db postgresql://... or set {ENV_CENTRAL_URL}")
    register_secret(url_password(url))
    try:
        if args.hq_action == "init":
            return _init(url)
        if args.hq_action == "add-outlet":
            return _add_outlet(url, args.outlet, args.name, args.timezone)
        if args.hq_action == "add-reader":
            return _add_reader(url, args.user)
        if args.hq_action == "outlets":
            return _outlets(url)
        if args.hq_action == "events":
            return _events(url, args.outlet, args.since)
        if args.hq_action == "gallery":
            return run_guarded(lambda a: _gallery(url, a), args)
    except psycopg.OperationalError as exc:
        from core.secrets import redact

        return fail(f"cannot reach the central database {mask_url(url)}: {redact(str(exc).strip())}. "
                    "Check the host, port, user and password in the URL, and that the server is running.")
    return fail("choose an action: init, add-outlet, add-reader, outlets, events or gallery (or leave it out to "
                "open the HQ console)")
