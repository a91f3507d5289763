"""The brand's central PostgreSQL: its schema (:mod:`core.central.schema`), what HQ reads from it
(:mod:`core.central.hq_api`), and the outlet side that replicates into it."""
