"""Pure logic of the SPG Presence Console: no Qt, no multiprocessing."""
