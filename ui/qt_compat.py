"""Work around a reference-count bug of PySide6 6.12 on Python 3.11.

Many QPainter methods called from Python (``setPen``, ``drawRect``, ``drawImage``, ``setRenderHint``,
...) drop one reference to ``None`` (``fillRect`` / ``setRenderHint(h, False)`` also to ``False``) per
call. Every paint of a camera tile or a pyqtgraph chart does this, so after a while the interpreter
aborts with "Fatal Python error: none_dealloc: deallocating None" (measured: -200 references to None
per 200 ``setPen`` calls; reproduced in benchmarks/ui_responsiveness.py before this fix).

Python 3.12+ makes these singletons immortal (PEP 683) and the bug is harmless there. On older
Pythons :func:`immortalize_singletons` gives None, True and False a huge extra reference count once, so
they can never reach zero. They are never freed anyway, so this changes nothing else.
"""

from __future__ import annotations

import ctypes
import sys

_PAD = 1 << 48
_done = False


def immortalize_singletons() -> None:
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        _done = True
        return
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _PAD
    _done = True


immortalize_singletons()
