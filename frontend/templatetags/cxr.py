"""Template filters for the web UI."""

import json

from django import template

register = template.Library()


@register.filter
def tojson(value) -> str:
    """JSON text for data-* attributes (autoescaping then makes it safe inside the attribute)."""
    return json.dumps(value if value is not None else {})


@register.filter
def params_for(job, user) -> dict:
    """The job's params as this user may see them (curation.services.jobs.visible_params)."""
    from curation.services.jobs import visible_params

    return visible_params(user, job)


@register.filter
def job_display(job):
    """The job's human name, outcome, duration and what it made (frontend.jobdisplay)."""
    from frontend.jobdisplay import describe

    return describe(job)


@register.filter
def percent(share) -> str:
    """A share in [0, 1] as "12.5%", or "–" when there is none (as the charts of frontend.plots write it)."""
    from frontend.plots import percent as as_percent

    return "–" if share is None else as_percent(share)
