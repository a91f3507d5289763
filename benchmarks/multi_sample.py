"""Several photos per SPG: best sample vs per-person template vs both, side by side in one run.

    .venv/bin/python benchmarks/multi_sample.py --faces ../shared/data/faces --pack ../shared/data/models/test_pack
    .venv/bin/python benchmarks/multi_sample.py --faces ../shared/data/faces --engine dlib

Every photo is embedded once (enrollment photos by the enrollment rules, probes by their most prominent
face). Each person is enrolled from up to ``--samples`` photos (at least one photo is left as a probe),
then ``core.matcher.Matcher`` scores the probes with each ``scoring``:

- closed set: everyone enrolled; rank-1 and identified (threshold + margin, right person);
- open set: half the people enrolled (both halves in turn); any photo of someone not enrolled that is
  matched to anyone is a false match (FPIR).

Two operating points per scoring: the engine's calibrated threshold, and the lowest threshold at which
the scoring's FPIR is no higher than best-of-samples' FPIR at the calibrated threshold ("same false-match
rate"). Last lines (parsed by scripts): ``scoring=<name> tmr_at_same_fpir=0.xxx ...``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.accuracy import people_photos, probe_embedding  # noqa: E402
from core.matcher import SCORINGS, Matcher  # noqa: E402


@dataclass
class Split:
    enrolled: dict[str, list[np.ndarray]]
    probes: dict[str, list[np.ndarray]]


def embed_people(engine, faces_dir: Path, samples: int, out=print) -> Split:
    from core.enrollment import EnrollmentError, embed_dominant_face

    enrolled: dict[str, list[np.ndarray]] = {}
    probes: dict[str, list[np.ndarray]] = {}
    for name, photos in people_photos(faces_dir).items():
        k = min(samples, max(1, len(photos) - 1))
        for photo in photos[:k]:
            try:
                enrolled.setdefault(name, []).append(embed_dominant_face(engine, photo)[0])
            except EnrollmentError as exc:
                out(f"  not enrolled: {photo.parent.name}/{photo.name}: {exc.message}")
        for photo in photos[k:]:
            emb, _ = probe_embedding(engine, photo)
            if emb is not None:
                probes.setdefault(name, []).append(emb)
    return Split(enrolled, probes)


def _matcher(split: Split, people: list[str], engine, scoring: str) -> Matcher:
    ids = [p for p in people for _ in split.enrolled[p]]
    mat = np.stack([e for p in people for e in split.enrolled[p]])
    return Matcher(ids, mat, engine.info.threshold, engine.info.margin, scoring=scoring)  # type: ignore[arg-type]


def _decisions(m: Matcher, embs: np.ndarray) -> tuple[list[str | None], np.ndarray]:
    """The matcher's decision with the threshold left out (margin rule only) and each face's score: a
    face is matched at threshold t exactly when it is matched here and its score >= t (Matcher.match)."""
    m.threshold = -np.inf
    res = m.match(embs) if len(embs) else []
    return [r.spg_id for r in res], np.array([r.similarity for r in res], np.float32)


def _matched(decided: tuple[list[str | None], np.ndarray], threshold: float) -> list[str | None]:
    ids, sims = decided
    return [pid if pid is not None and sim >= threshold else None for pid, sim in zip(ids, sims)]


def evaluate(engine, split: Split, scoring: str, thresholds: np.ndarray) -> dict[str, np.ndarray | float]:
    """Per threshold: closed-set identified / wrong rates and open-set FPIR; plus rank-1."""
    people = sorted(p for p in split.enrolled if split.enrolled[p])
    known = [(p, e) for p in people for e in split.probes.get(p, [])]
    m_all = _matcher(split, people, engine, scoring)
    k_emb = np.stack([e for _, e in known])
    k_truth = [p for p, _ in known]
    scores = m_all.person_scores(k_emb)
    rank1 = float(np.mean([m_all.people[int(i)] == t for i, t in zip(np.argmax(scores, axis=1), k_truth)]))
    halves = [people[0::2], people[1::2]]
    opens = []
    for inside in halves:
        outside = [p for p in set(split.probes) | set(split.enrolled) if p not in inside]
        photos = [e for p in outside for e in split.enrolled.get(p, []) + split.probes.get(p, [])]
        opens.append((_matcher(split, inside, engine, scoring), np.stack(photos)))
    n_unknown = sum(len(e) for _, e in opens)
    known_decided = _decisions(m_all, k_emb)
    open_decided = [_decisions(m, e) for m, e in opens]
    tmr, wrong, fpir = [], [], []
    for t in thresholds:
        got = _matched(known_decided, float(t))
        tmr.append(np.mean([g == p for g, p in zip(got, k_truth)]))
        wrong.append(np.mean([g is not None and g != p for g, p in zip(got, k_truth)]))
        fp = sum(sum(g is not None for g in _matched(d, float(t))) for d in open_decided)
        fpir.append(fp / max(1, n_unknown))
    return {"rank1": rank1, "tmr": np.array(tmr), "wrong": np.array(wrong), "fpir": np.array(fpir),
            "n_known": float(len(known)), "n_unknown": float(n_unknown)}


def run(engine, faces_dir: Path, samples: int = 3, out=print) -> dict[str, dict[str, float]]:
    split = embed_people(engine, faces_dir, samples, out)
    cal = float(engine.info.threshold)
    thresholds = np.unique(np.r_[np.arange(0.0, 1.0, 0.001), cal])
    at_cal = int(np.flatnonzero(np.isclose(thresholds, cal))[0])
    evals = {s: evaluate(engine, split, s, thresholds) for s in SCORINGS}
    target = float(evals["best"]["fpir"][at_cal])  # type: ignore[index]
    n_enrolled = sum(len(v) for v in split.enrolled.values())
    out(f"{len(split.enrolled)} people enrolled from {n_enrolled} photos (up to {samples} each); "
        f"{int(evals['best']['n_known'])} probes of enrolled people, {int(evals['best']['n_unknown'])} probes of "
        f"people not enrolled (open set, both halves); calibrated threshold {cal:.3f}, margin {engine.info.margin:.3f}")
    res: dict[str, dict[str, float]] = {}
    for s, ev in evals.items():
        fpir = ev["fpir"]
        ok = np.flatnonzero(fpir <= target + 1e-9)  # type: ignore[operator]
        i = int(ok[0]) if len(ok) else len(thresholds) - 1
        res[s] = {"rank1": float(ev["rank1"]), "tmr_cal": float(ev["tmr"][at_cal]), "fpir_cal": float(fpir[at_cal]),
                  "wrong_cal": float(ev["wrong"][at_cal]), "threshold_same": float(thresholds[i]),
                  "tmr_same": float(ev["tmr"][i]), "fpir_same": float(fpir[i])}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=Path, required=True, help="folder of person folders with photos")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--pack", help="model pack folder, any kind (or a name under the data dir's models/)")
    src.add_argument("--engine", choices=["insightface", "opencv", "dlib"], help="engine kind (default: what the pack holds)")
    ap.add_argument("--samples", type=int, default=3, help="photos enrolled per person (default 3)")
    args = ap.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    from core.config import EngineConfig, load_config
    from core.engine.factory import create_engine

    base = load_config().engine
    kind = args.engine or ("auto" if args.pack else base.kind)
    cfg = EngineConfig.model_validate({**base.model_dump(), "kind": kind, "pack": args.pack or base.pack})
    engine = create_engine(cfg, load_config().resolved_data_dir())
    i = engine.info
    print(f"engine {i.name} {i.model_id} ({i.embedding_dim}-d)")
    res = run(engine, args.faces, args.samples)
    print(f"{'scoring':<14} {'rank-1':>7} {'identified@cal':>15} {'FPIR@cal':>9} {'threshold':>10} "
          f"{'identified@same FPIR':>21} {'FPIR':>6}")
    for s, r in res.items():
        print(f"{s:<14} {r['rank1']:7.3f} {r['tmr_cal']:15.3f} {r['fpir_cal']:9.3f} {r['threshold_same']:10.3f} "
              f"{r['tmr_same']:21.3f} {r['fpir_same']:6.3f}")
    for s, r in res.items():
        print(f"scoring={s} rank1={r['rank1']:.3f} tmr_at_cal={r['tmr_cal']:.3f} fpir_at_cal={r['fpir_cal']:.3f} "
              f"tmr_at_same_fpir={r['tmr_same']:.3f} threshold={r['threshold_same']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
