"""Where things live: the repository / bundle resources and the per-user data directory.

When frozen by PyInstaller, resources and the default config are read from the bundle
(``sys._MEIPASS``); user data always goes to the per-user app-data folder (never next to the
executable, which may be read-only), unless overridden by config or ``SPG_DATA_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_NAME = "SPGPresenceConsole"
APP_AUTHOR = "SPGPresence"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def _root() -> Path:
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    return Path(__file__).resolve().parent.parent


ROOT = _root()
REPO_CONFIG_DIR = ROOT / "configs"
RESOURCES_DIR = ROOT / "resources"
BUNDLED_MODELS_DIR: Path | None = ROOT / "models" if is_frozen() else None
"""Model packs baked into a packaged build (``SPG_BUNDLE_PACK`` at build time); read-only, used when the
data folder has no pack of that name. None in the source tree."""


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, APP_AUTHOR, roaming=False))


def shared_data_dir() -> Path:
    """``../shared/data`` next to the repository (tests and benchmarks only)."""
    return ROOT.parent / "shared" / "data"


class DataLayout:
    """The folders inside one data directory. One place that knows the names."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def gallery(self) -> Path:
        return self.root / "gallery"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def events_db(self) -> Path:
        return self.root / "events.db"

    @property
    def unknown_faces(self) -> Path:
        return self.root / "unknown"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def lock_file(self) -> Path:
        return self.root / "console.lock"

    @property
    def runs(self) -> Path:
        """One record per running pipeline: its SharedMemory blocks, removed by the next start after a hard kill."""
        return self.root / "runs"

    def ensure(self) -> DataLayout:
        for p in (self.root, self.gallery, self.models, self.logs, self.unknown_faces, self.snapshots):
            p.mkdir(parents=True, exist_ok=True)
        return self
