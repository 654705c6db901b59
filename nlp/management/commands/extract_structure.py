"""`manage.py extract_structure`: fill in longitudinal findings of a series of reports (no database needed)."""

from django.core.management.base import BaseCommand, CommandError

from nlp.core.vocabulary import VocabularyError
from nlp.structure.cli import SeriesInputError, run_extract_structure


class Command(BaseCommand):
    help = (
        "Extract findings (term, presence, certainty, location, severity, change, evidence) from every report "
        "of a series JSON and link them across each patient's reports."
    )

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, help="series JSON: {patients: [{patient_id, reports: [...]}]}")
        parser.add_argument("--output", required=True, help="JSON to write: the input with findings filled in")
        parser.add_argument(
            "--details",
            action="store_true",
            help="add evidence offsets, cues, links, warnings and conflicts (extends the schema)",
        )

    def handle(self, *args, **options):
        try:
            summary = run_extract_structure(options["input"], options["output"], details=options["details"])
        except SeriesInputError as error:
            raise CommandError(str(error)) from error
        except (OSError, VocabularyError) as error:
            raise CommandError(str(error)) from error
        for line in summary.warnings:
            self.stderr.write(f"warning: {line}")
        for conflict in summary.conflicts:
            self.stderr.write(f"conflict: {conflict.report_id} {conflict.term}: {conflict.message}")
        self.stdout.write(
            f"extracted {summary.findings} findings from {summary.reports} reports of {summary.patients} patients "
            f"in {summary.seconds:.1f} s; {len(summary.warnings)} warnings, {len(summary.conflicts)} conflicts"
        )
