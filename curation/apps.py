"""Curation app: users, projects and roles, jobs, audit trail; later studies, ingest, de-id, export."""

from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Curation"

    def ready(self) -> None:
        from . import dispatch, tasks  # noqa: F401 -- importing tasks registers the job kinds

        dispatch.announce_mode_once()
