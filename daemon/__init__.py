"""renkei, the service: CLI, settings, spool, worker, store, reports, poller, web app."""
