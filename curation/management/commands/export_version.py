"""`python manage.py export_version --version ID --format FORMAT [--images KIND] --output DIR`: write one
format of a dataset version unpacked into DIR (`DIR/<format>/...` and the data card beside it), with the
same writer the export job streams into a zip."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from curation.exporters import FORMATS, IMAGE_KINDS, DirSink, ExportError, export_version
from curation.models import DatasetVersion


class Command(BaseCommand):
    help = "Export a dataset version in one format into a folder."

    def add_base_argument(self, parser, *args, **kwargs):
        # `--version` is the dataset version here (the contract), not Django's version flag.
        if "--version" not in args:
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", required=True, type=int, dest="version_id", help="dataset version id")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument(
            "--images",
            choices=IMAGE_KINDS,
            help="image files (default: png8 for nih/chexpert, dicom for dicom-seg, none otherwise)",
        )
        parser.add_argument("--output", required=True, help="folder to write into")

    def handle(self, *args, **options):
        version = DatasetVersion.objects.filter(pk=options["version_id"]).select_related("definition").first()
        if version is None:
            raise CommandError(f"No dataset version {options['version_id']}.")
        try:
            summary = export_version(version, options["fmt"], options["images"], DirSink(Path(options["output"])))
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(summary))
