"""`python manage.py build_reference_bank --masks DIR|CSV --output BANK`: a bank from the user's trusted masks."""

import json

from django.core.management.base import BaseCommand, CommandError

from labeling.qc.cli import build_bank_from_path


class Command(BaseCommand):
    help = (
        "Build a reference bank from trusted masks: a folder of bit-mask PNGs (1 right lung, 2 left lung, "
        "4 heart) or a CheXmask CSV. The bank calibrates itself on corruptions of its own masks."
    )

    def add_arguments(self, parser):
        parser.add_argument("--masks", required=True, help="folder of bit-mask PNGs or a CheXmask CSV")
        parser.add_argument("--output", required=True, help="bank file to write (.npz)")
        parser.add_argument("--corruptions-per-reference", type=int, default=4)
        parser.add_argument("--no-calibration", action="store_true", help="skip the Dice calibration")

    def handle(self, *args, **options):
        try:
            summary = build_bank_from_path(
                options["masks"],
                options["output"],
                calibrate=not options["no_calibration"],
                corruptions_per_reference=options["corruptions_per_reference"],
            )
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        if summary["references"] == 0:
            raise CommandError(f"no usable reference masks in {options['masks']}: {summary['errors']}")
        self.stdout.write(json.dumps(summary))
