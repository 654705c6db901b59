"""Frontend app: server-rendered screens with htmx (vendored, works offline)."""

from django.apps import AppConfig


class FrontendConfig(AppConfig):
    name = "frontend"
    verbose_name = "Web UI"
