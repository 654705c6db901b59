"""`python manage.py qc_masks --chexmask masks.csv --reference-bank BANK --output qc.csv`: QC without a database."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from labeling.qc.bank import BankError
from labeling.qc.cli import qc_chexmask_csv
from labeling.qc.pipeline import QcConfig


class Command(BaseCommand):
    help = (
        "Estimate mask quality for every row of a CheXmask CSV and write id, estimated Dice, decision, flags. "
        "Rows with blank Height/Width are read on CheXmask's 1024x1024 grid and flagged 'size inferred'; "
        "unreadable or oversized rows are written with decision 'error'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chexmask", required=True, help="CheXmask CSV (RLE columns Right Lung, Left Lung, Heart)")
        parser.add_argument("--reference-bank", required=True, help="bank built with build_reference_bank (.npz)")
        parser.add_argument("--output", required=True, help="output CSV")
        parser.add_argument("--review-below", type=float, default=QcConfig.review_below)
        parser.add_argument("--reject-below", type=float, default=QcConfig.reject_below)

    def handle(self, *args, **options):
        config = QcConfig(review_below=options["review_below"], reject_below=options["reject_below"])
        try:
            summary = qc_chexmask_csv(
                options["chexmask"],
                options["reference_bank"],
                options["output"],
                config,
                max_pixels=settings.MASK_MAX_PIXELS,
            )
        except (BankError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(summary))
