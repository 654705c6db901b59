"""Labeling app: review queues, masks, mask QC and agreement."""

from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 -- registers the job kinds
