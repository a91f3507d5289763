"""Pure logic of the SPG Presence Console: no Qt, no multiprocessing."""

__version__ = "0.1.0"  # the release shown in Help -> About; equal to pyproject.toml's [project] version (tested)
