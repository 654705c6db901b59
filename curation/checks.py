"""System checks for the job machinery (run by `manage.py check`, and so at every start)."""

import importlib
import importlib.util

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.compatibility)
def time_limits_below_visibility_timeout(app_configs=None, **kwargs):
    """Every task's time limit must end before the broker would hand its message to another worker."""
    from .tasking import TIME_LIMITS

    _import_task_modules()
    visibility = (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("visibility_timeout")
    if not visibility:
        return []
    return [
        Error(
            f"Task {name} may run for {limit} s, longer than the broker's visibility timeout ({visibility} s): "
            "a second worker would get its message while the first still runs it.",
            hint="Lower the task's time_limit or raise CELERY_VISIBILITY_TIMEOUT.",
            id="curation.E001",
        )
        for name, limit in sorted(TIME_LIMITS.items())
        if limit >= visibility
    ]


def _import_task_modules() -> None:
    """Every app's tasks module, so that every task is registered (not Celery's loader: its Django
    fixup runs the system checks again, which would recurse)."""
    for config in apps.get_app_configs():
        name = f"{config.name}.tasks"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


@register(Tags.security)
def directory_group_roles(app_configs=None, **kwargs):
    """LDAP_GROUP_ROLES and OIDC_GROUP_ROLES must parse when their sign-in is on (curation.E110, E120). The
    sign-in module is imported only then: python-ldap and the OIDC client stay out of every other process."""
    errors = []
    for module, check in (("ldap_auth", "ldap_group_roles_check"), ("oidc_auth", "oidc_group_roles_check")):
        if f"curation.{module}." in " ".join(settings.AUTHENTICATION_BACKENDS):
            errors += getattr(importlib.import_module(f"curation.{module}"), check)()
    return errors
