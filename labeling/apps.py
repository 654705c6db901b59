"""Labeling app: review queues, masks, mask QC and agreement."""

from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"
