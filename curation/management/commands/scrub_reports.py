"""`manage.py scrub_reports`: remove PHI from the text columns of a reports CSV (no database needed)."""

from django.core.management.base import BaseCommand, CommandError

from curation.dicomio.scrub_csv import ScrubCsvError, scrub_csv


class Command(BaseCommand):
    help = "Scrub PHI from the text columns of a CSV of reports; other columns and the header are kept as they are."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, help="CSV of reports (UTF-8 or Windows-1252)")
        parser.add_argument("--output", required=True, help="scrubbed CSV to write (UTF-8)")
        parser.add_argument("--id-column", required=True, help="column with the report id")
        parser.add_argument(
            "--text-columns", required=True, help="comma-separated text columns to scrub, e.g. findings,impression"
        )
        parser.add_argument(
            "--date-offset-days",
            type=int,
            default=None,
            help="shift dates by this many days in their own format (default: replace dates with ___)",
        )

    def handle(self, *args, **options):
        try:
            summary = scrub_csv(
                options["input"],
                options["output"],
                id_column=options["id_column"],
                text_columns=options["text_columns"].split(","),
                date_offset_days=options["date_offset_days"],
            )
        except (ScrubCsvError, OSError) as error:
            raise CommandError(str(error)) from error
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.replacements.items())) or "none"
        self.stdout.write(
            f"scrubbed {summary.cells} cells in {summary.rows} rows ({summary.encoding}) in {summary.seconds:.1f} s; "
            f"replacements: {kinds}"
        )
