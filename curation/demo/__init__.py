"""Synthetic demo and test data: chest X-ray DICOM studies, reports and masks with known truth.

Django-free so that a management command, a Celery task and the test suite can all call it.
"""

from curation.demo.generator import generate_dataset

__all__ = ["generate_dataset"]
