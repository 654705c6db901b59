"""Web UI: templates and static assets."""
