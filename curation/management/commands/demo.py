"""`python manage.py demo`: demo users, the `demo` project, generated data, every pipeline job, review queues."""

import json

from django.core.management.base import BaseCommand, CommandError

from curation.services.demo import run_demo


class Command(BaseCommand):
    help = (
        "Create demo users and the 'demo' project, generate and ingest demo data, run every job, fill the review "
        "queues with a few reads made. Safe to re-run."
    )

    def handle(self, *args, **options):
        summary = run_demo()
        self.stdout.write(f"Demo users (log in at {summary['url']}):")
        for user in summary["users"]:
            self.stdout.write(f"  {user['username']:<13} {user['role']:<12} password: {user['password']}")
        for job in summary["jobs"]:
            self.stdout.write(f"  job #{job['id']} {job['kind']}: {job['status']}")
        review = summary["review"]
        for kind, states in review["queues"].items():
            self.stdout.write(
                f"  {kind} review queue: {states['pending']} waiting, {states['decided']} decided, "
                f"{states['adjudication']} in adjudication"
            )
        readers = " and ".join(review["readers"])
        self.stdout.write(f"  review reads so far: {review['decisions']} (the demo's made by {readers})")
        self.stdout.write(json.dumps(summary))
        if not summary["ok"]:
            raise CommandError("A demo job did not succeed; see the job list for its message.")
