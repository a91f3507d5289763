"""Headless subcommands of ``app.py`` (enroll, identify, gallery, run, report, ...)."""
