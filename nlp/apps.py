"""NLP app: report sections, label mining and report structure (the cores are Django-free)."""

from django.apps import AppConfig


class NlpConfig(AppConfig):
    name = "nlp"
    verbose_name = "Report NLP"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 -- registers the job kinds
