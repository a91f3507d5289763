"""The licence of each engine's model weights, in one place: engines put it in ``EngineInfo.licence``, the
About box and ``app.py models check`` show it, and the README's licence table says the same.

Commercially usable: the OpenCV pack (YuNet MIT, SFace Apache-2.0) and dlib's models (public domain).
InsightFace's buffalo weights are for non-commercial research only.
"""

from __future__ import annotations

OPENCV = "OpenCV Zoo: YuNet MIT, SFace Apache-2.0 (commercial use allowed)"
DLIB = "dlib models: public domain (Davis King; commercial use allowed); the 68-point model is not used"
INSIGHTFACE = "InsightFace model weights: non-commercial research use only"
UNKNOWN_PACK = "see the pack's own licence"

# recognisers trained and published by InsightFace (buffalo_l / buffalo_s / buffalo_sc and their relatives)
_INSIGHTFACE_RECOGNISERS = ("w600k", "glint360k", "ms1mv", "webface")


def licence_for(engine: str, pack_name: str = "", recogniser: str = "") -> str:
    """The licence line for an engine name ('opencv', 'dlib', 'insightface') and, for InsightFace, its pack."""
    if engine == "opencv":
        return OPENCV
    if engine == "dlib":
        return DLIB
    if pack_name.lower().startswith("buffalo") or any(k in recogniser.lower() for k in _INSIGHTFACE_RECOGNISERS):
        return INSIGHTFACE
    return UNKNOWN_PACK
