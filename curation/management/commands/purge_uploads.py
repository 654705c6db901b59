"""`manage.py purge_uploads`: delete uploaded archives past their keep time (run it from cron hourly).

Uploads are also deleted as soon as their import succeeds, and expired ones are purged whenever a new
archive is uploaded; this command covers quiet periods.
"""

from django.core.management.base import BaseCommand

from curation.services.uploads import purge_expired


class Command(BaseCommand):
    help = "Delete uploaded archives whose keep time has passed and that no queued or running job needs."

    def handle(self, *args, **options):
        total = 0
        while deleted := purge_expired():
            total += deleted
        self.stdout.write(f"deleted {total} expired upload(s)")
