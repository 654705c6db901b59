"""Every select_for_update in the app lives here, so rows are always locked in the same order."""

from .models import Job, Membership


def job_for_update(job_id: int) -> Job:
    return Job.objects.select_for_update().select_related("project").get(pk=job_id)


def membership_for_update(project_id: int, user_id: int) -> Membership:
    return (
        Membership.objects.select_for_update()
        .select_related("user", "project")
        .get(project_id=project_id, user_id=user_id)
    )
