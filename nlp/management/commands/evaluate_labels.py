"""`manage.py evaluate_labels`: per-label precision, recall and F1 of a labels CSV against gold."""

from django.core.management.base import BaseCommand, CommandError

from nlp.core.csvio import evaluate_csv
from nlp.core.evaluate import format_summary


class Command(BaseCommand):
    help = "Score labels.csv against a gold CSV: positive detection, and per status when the gold has 0/-1."

    def add_arguments(self, parser):
        parser.add_argument("--pred", required=True, help="labels.csv from label_reports")
        parser.add_argument("--gold", required=True, help="gold CSV with the same id column")
        parser.add_argument("--id-column", default=None, help="id column (default: the gold's first column)")
        parser.add_argument(
            "--uncertain-as-positive", action="store_true", help="count -1 as positive for positive detection"
        )

    def handle(self, *args, **options):
        try:
            summary = evaluate_csv(
                options["pred"],
                options["gold"],
                id_column=options["id_column"],
                uncertain_as_positive=options["uncertain_as_positive"],
            )
        except (ValueError, OSError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(format_summary(summary))
