"""Qt widgets, windows and the controller thread that bridges the pipeline to them."""

from ui import qt_compat as _qt_compat  # noqa: E402,F401 - PySide6 6.12 refcount workaround, before any painting
