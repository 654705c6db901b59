"""`manage.py refresh_facets [--project SLUG]`: recompute the study list's filter facets from the tables.

The app keeps facets current as it writes (curation.services.facets); this is for data changed behind its
back (hand-made SQL, deleted rows) and prints how many studies changed, per project, as JSON.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from curation.models import Project
from curation.services import facets


class Command(BaseCommand):
    help = "Recompute the study filter facets of one project or of all."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug (default: every project)")

    def handle(self, *args, project=None, **options):
        projects = Project.objects.order_by("pk")
        if project:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f"No project with slug {project!r}.")
        changed = {p.slug: facets.refresh_project(p.pk) for p in projects}
        self.stdout.write(json.dumps({"changed": changed}))
