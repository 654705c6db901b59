"""`python manage.py freeze_version --project SLUG --name NAME [--json]`: freeze the project's default
definition (all studies, label precedence adjudicated/agreed review > single review > mined > dataset, QC
rejects and unredacted burned-in images left out) into a new immutable version and print its id."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from curation.models import Project
from curation.services.datasets import freeze_version


class Command(BaseCommand):
    help = "Freeze the project's default dataset definition into a new immutable version; prints its id."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--name", required=True, help="the new version's name (unique in the project)")
        parser.add_argument("--json", action="store_true", help="print one JSON object with `id` (last line)")

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project {options['project']!r}.")
        try:
            version = freeze_version(None, project, options["name"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "id": version.pk,
                        "name": version.name,
                        "rows": version.row_count,
                        "content_hash": version.content_hash,
                        "splits": version.summary.get("splits", {}),
                        "excluded": version.summary.get("excluded", {}),
                    }
                )
            )
        else:
            self.stdout.write(str(version.pk))
