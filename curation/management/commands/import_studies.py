"""`python manage.py import_studies`: import a DICOM folder or a dataset manifest into a project, in-process."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from curation.services.ingest import SOURCES, import_from_cli


class Command(BaseCommand):
    help = "Import studies (DICOM or a dataset manifest) into a project; creates the project if needed."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug (created if it does not exist)")
        parser.add_argument("--source", required=True, choices=SOURCES)
        parser.add_argument("--path", required=True, help="folder holding the files (and the manifest)")
        parser.add_argument("--mapping", help="generic CSV: JSON column mapping, or @file.json")
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")

    def handle(self, *args, **options):
        mapping = None
        if options["mapping"]:
            raw = options["mapping"]
            if raw.startswith("@"):
                with open(raw[1:], encoding="utf-8") as fh:
                    raw = fh.read()
            try:
                mapping = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise CommandError(f"--mapping is not valid JSON: {exc}") from exc
        try:
            summary = import_from_cli(options["project"], options["source"], options["path"], mapping)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"Job #{summary['job']} {summary['status']}: imported {summary['imported']}, "
                f"duplicates {summary['duplicates']}, errors {summary['error_count']}"
                + (f", rendered {summary['rendered']}" if summary["render_job"] else "")
            )
            if summary["message"]:
                self.stdout.write(f"  {summary['message']}")
            for error in summary["errors"] + summary["render_errors"]:
                self.stdout.write(f"  {error['file']}: {error['reason']}")
        if summary["status"] != "succeeded":
            raise CommandError(summary["message"] or "The import did not succeed.")
