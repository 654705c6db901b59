"""The signed download address of a finished export job, for the job page (frontend.dataset_views makes it)."""

from django import template

register = template.Library()


@register.simple_tag
def export_download_url(job, user) -> str:
    """The job's download address for `user` (signed, expiring, theirs only), or "" when there is none for them."""
    from frontend.dataset_views import download_url

    return download_url(user, job.project, job)
