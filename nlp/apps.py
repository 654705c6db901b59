"""NLP app: report sections, label mining and report structure (the cores are Django-free)."""

from django.apps import AppConfig


class NlpConfig(AppConfig):
    name = "nlp"
    verbose_name = "Report NLP"
