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
