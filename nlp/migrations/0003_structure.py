"""Longitudinal structure (issue 12): StructureRun, Finding (machine and reviewer rows) and TemporalChange."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0010_study_date_sort_index"),
        ("labeling", "0004_review_queue"),
        ("nlp", "0002_review_order_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="StructureRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.CharField(max_length=64)),
                ("complete", models.BooleanField(default=False)),
                ("patients", models.PositiveIntegerField(default=0)),
                ("reports", models.PositiveIntegerField(default=0)),
                ("findings", models.PositiveIntegerField(default=0)),
                ("changes", models.PositiveIntegerField(default=0)),
                ("conflicts", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "job",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="curation.job",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="structure_runs",
                        to="curation.project",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="Finding",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "source",
                    models.CharField(
                        choices=[("machine", "Machine"), ("reviewer", "Reviewer")], default="machine", max_length=8
                    ),
                ),
                (
                    "verdict",
                    models.CharField(
                        blank=True,
                        choices=[("accept", "Accepted"), ("edit", "Edited"), ("reject", "Rejected"), ("add", "Added")],
                        max_length=8,
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=0)),
                ("term", models.CharField(max_length=64)),
                ("presence", models.CharField(max_length=8)),
                ("certainty", models.CharField(max_length=10)),
                ("location", models.CharField(blank=True, max_length=32)),
                ("severity", models.CharField(blank=True, max_length=16)),
                ("evidence", models.JSONField(blank=True, default=list)),
                ("group", models.CharField(blank=True, max_length=120)),
                ("machine_output", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "decision",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="labeling.reviewdecision",
                    ),
                ),
                (
                    "prior",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="nlp.finding",
                    ),
                ),
                (
                    "report",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="findings", to="curation.report"
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="findings", to="curation.study"
                    ),
                ),
                (
                    "supersedes",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="nlp.finding",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="finding_rows", to="nlp.structurerun"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="TemporalChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("change", models.CharField(blank=True, max_length=10)),
                (
                    "origin",
                    models.CharField(
                        choices=[
                            ("stated", "Stated in the report"),
                            ("inferred", "Inferred from the timeline"),
                            ("reviewer", "Set by a reviewer"),
                        ],
                        max_length=8,
                    ),
                ),
                ("cue", models.CharField(blank=True, max_length=120)),
                ("conflict", models.BooleanField(default=False)),
                ("conflict_kind", models.CharField(blank=True, max_length=32)),
                ("conflict_reason", models.CharField(blank=True, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "finding",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="temporal_changes", to="nlp.finding"
                    ),
                ),
                (
                    "prior_finding",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="nlp.finding",
                    ),
                ),
                (
                    "supersedes",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="nlp.temporalchange",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="structurerun",
            index=models.Index(fields=["project", "-id"], name="structurerun_project"),
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(fields=["study", "run"], name="finding_study_run"),
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(fields=["decision"], name="finding_decision"),
        ),
        migrations.AddConstraint(
            model_name="finding",
            constraint=models.UniqueConstraint(
                condition=models.Q(("source", "machine")),
                fields=("run", "study", "position"),
                name="finding_machine_unique",
            ),
        ),
        migrations.AddIndex(
            model_name="temporalchange",
            index=models.Index(fields=["finding", "-id"], name="temporalchange_latest"),
        ),
    ]
