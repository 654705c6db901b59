"""`manage.py label_reports`: mine labels from a CSV of reports into labels.csv (no database needed)."""

from django.core.management.base import BaseCommand, CommandError

from nlp.core.csvio import label_csv
from nlp.core.vocabulary import VocabularyError


class Command(BaseCommand):
    help = "Label chest X-ray reports in a CSV with CheXpert or ChestX-ray14 labels (1, 0, -1, blank)."

    def add_arguments(self, parser):
        parser.add_argument("--input", required=True, help="CSV of reports")
        parser.add_argument("--output", required=True, help="labels.csv to write")
        parser.add_argument("--id-column", required=True, help="column with the report id")
        parser.add_argument(
            "--text-columns", required=True, help="comma-separated text columns, e.g. findings,impression"
        )
        parser.add_argument("--labels", default="chexpert", choices=["chexpert", "chestxray14"], help="label space")
        parser.add_argument("--jsonl", default=None, help="optional evidence JSONL to write")

    def handle(self, *args, **options):
        try:
            summary = label_csv(
                options["input"],
                options["output"],
                id_column=options["id_column"],
                text_columns=options["text_columns"].split(","),
                label_space=options["labels"],
                jsonl_path=options["jsonl"],
            )
        except (ValueError, VocabularyError, OSError) as error:
            raise CommandError(str(error)) from error
        for problem in summary.errors:
            self.stderr.write(f"row {problem.row} (id {problem.report_id!r}): {problem.message}")
        for warning in summary.warnings:
            self.stderr.write(f"row {warning.row} (id {warning.report_id!r}): warning: {warning.message}")
        self.stdout.write(
            f"labelled {summary.labelled} of {summary.rows} reports ({summary.label_space}, "
            f"labeler {summary.labeler_version}) in {summary.seconds:.1f} s; {len(summary.errors)} row errors"
        )
