"""app.py gallery list | remove ID | reindex | sync : the enrolled SPGs (sync: gallery sharing with HQ, now)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from cli.common import action_options, config_from_args, fail, run_guarded

if TYPE_CHECKING:  # cheap start: the subcommand imports what it needs when it runs
    from core.config import AppConfig
    from core.gallery import Gallery
    from core.paths import DataLayout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = action_options(sub.add_parser("list", help="list enrolled SPGs"))
    ls.add_argument("--json", action="store_true", help="one JSON object per SPG")
    rm = action_options(sub.add_parser("remove", help="delete an SPG with all their photos, crops and embeddings"))
    rm.add_argument("spg_id", metavar="ID")
    ri = action_options(sub.add_parser("reindex", help="re-embed every photo with the current face model"))
    ri.add_argument("--force", action="store_true", help="also samples that already have this model's embedding")
    sy = action_options(sub.add_parser("sync", help="gallery sharing: publish, pull and erase with HQ now"))
    sy.add_argument("--db", metavar="URL", default=None, help="this outlet's central URL (default: SPG_CENTRAL_URL, environment or the data folder's .env)")


def _gallery(args: argparse.Namespace) -> tuple[AppConfig, DataLayout, Gallery]:
    from core.gallery import Gallery
    from core.paths import DataLayout

    cfg = config_from_args(args)
    layout = DataLayout(cfg.resolved_data_dir()).ensure()
    return cfg, layout, Gallery(layout.gallery)


def _list(args: argparse.Namespace) -> int:
    _, _, gallery = _gallery(args)
    people = gallery.people()
    for p in people:
        models = sorted({m for s in p.samples for m in s.embeddings})
        if args.json:
            print(json.dumps({"spg_id": p.spg_id, "name": p.name, "active": p.active, "samples": p.sample_count,
                              "models": models, "notes": p.notes}))
        else:
            state = "active" if p.active else "inactive"
            print(f"{p.spg_id}\t{p.name}\t{state}\t{p.sample_count} photo(s)\t{', '.join(models)}")
    if not args.json:
        print(f"{len(people)} SPG(s)", file=sys.stderr)
    for model_id in sorted({m for p in people for s in p.samples for m in s.embeddings}):
        gallery.matrix(model_id)  # lists samples whose embedding has another size than the others' in problems
    for problem in gallery.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    from core.forget_spg import forget_spg
    from core.gallery import GalleryError

    _, layout, gallery = _gallery(args)
    person = gallery.get(args.spg_id)
    try:
        forget_spg(gallery, args.spg_id, layout.events_db)
    except GalleryError as exc:
        return fail(str(exc))
    print(f"removed {args.spg_id}{f' ({person.name})' if person else ''} with all photos, crops and embeddings")
    return 0


def _reindex(args: argparse.Namespace) -> int:
    from core.engine.factory import create_engine
    from core.enrollment import reindex

    cfg, layout, gallery = _gallery(args)
    engine = create_engine(cfg.engine, layout.root)

    def progress(done: int, total: int) -> None:
        print(f"\rre-indexing {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    report = reindex(engine, gallery, progress=progress, force=args.force)
    for f in report.failed:
        print(f"warning: {f}", file=sys.stderr)
    print(f"re-indexed {report.done} photo(s) for {report.model_id}; {len(report.failed)} could not be re-indexed")
    return 1 if report.failed else 0


def _sync(args: argparse.Namespace) -> int:
    """What the replicator does every heartbeat with ``central.share_gallery``, once, from the command line."""
    import psycopg

    from core.config import central_url
    from core.gallery_sharing import gallery_sync_from_config
    from core.secrets import mask_url, redact, register_secret, url_password

    cfg = config_from_args(args)
    url = args.db or central_url(cfg)
    if not url:
        return fail("no central database: give --db postgresql://... (the URL 'app.py hq add-outlet' printed) "
                    "or set SPG_CENTRAL_URL (environment or the data folder's .env)")
    register_secret(url_password(url))
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute("SELECT spg.outlet_of(current_user)").fetchone()
            if not row or not row[0]:
                return fail(f"the login in {mask_url(url)} is not registered as an outlet; use the URL that "
                            "'app.py hq add-outlet' printed for this outlet")
            result = gallery_sync_from_config(cfg).sync_once(conn, str(row[0]))
    except psycopg.Error as exc:
        return fail(f"gallery sharing with {mask_url(url)} failed: {redact(str(exc).strip())}. Check the URL and "
                    "that the server is running; nothing is lost, the next sync goes on from here")
    print(json.dumps({"published": result.published, "pulled": result.pulled, "erased": result.erased,
                      "skipped": result.skipped}))
    return 0


def _body(args: argparse.Namespace) -> int:
    return {"list": _list, "remove": _remove, "reindex": _reindex, "sync": _sync}[args.action](args)


def main(args: argparse.Namespace) -> int:
    return run_guarded(_body, args)
