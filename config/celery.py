"""The one Celery app. Workers: `celery -A config worker -Q ingest,nlp,qc,export,default`."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Queues by workload: ingest (I/O), nlp and qc (CPU), export, default.
QUEUES = ("ingest", "nlp", "qc", "export", "default")

app = Celery("cxr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.autodiscover_tasks()
