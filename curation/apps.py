"""Curation app: users, projects and roles, jobs, audit trail; later studies, ingest, de-id, export."""

from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Curation"

    def ready(self) -> None:
        from . import checks, dispatch, ldap_auth, oidc_auth, tasks  # noqa: F401 -- tasks register job kinds; the rest checks

        dispatch.announce_mode_once()
        from .services import facets

        facets.connect_signals()
