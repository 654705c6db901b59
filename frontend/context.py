"""Template context shared by every screen (the app's mode banner, version)."""

from django.conf import settings


def shell(request) -> dict:
    return {"jobs_in_process": settings.JOBS_IN_PROCESS, "app_name": "CXR Curator"}
