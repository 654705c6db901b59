"""Curation app: users, projects and roles, jobs, audit trail; later studies, ingest, de-id, export."""

from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Curation"

    def ready(self) -> None:
        from . import checks, dispatch, tasks  # noqa: F401 -- importing tasks registers the job kinds; checks register

        dispatch.announce_mode_once()
        from .services import facets

        facets.connect_signals()
