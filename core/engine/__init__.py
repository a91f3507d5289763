"""Face engines: detect faces and embed them. See :mod:`core.engine.base` for the interface."""
