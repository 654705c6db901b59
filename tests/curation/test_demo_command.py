"""`python manage.py demo`: users, the demo project, generated data, review queues with a few reads made,
a JSON summary; safe to re-run."""

import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from curation.models import AuditEvent, DatasetVersion, Job, Membership, Project, Upload, User
from curation.services import demo
from labeling import truth
from labeling.models import Claim, Mask, MaskTruth, ReviewDecision, ReviewItem, ReviewState
from nlp.models import Finding
from tests.labeling.review_helpers import label_item


@pytest.fixture
def small_demo(monkeypatch, settings):
    settings.JOBS_IN_PROCESS_THREAD = False
    monkeypatch.setattr(demo, "DEMO_PARAMS", {"patients": 2, "seed": 3, "image_size": 64})


def _run(capsys):
    call_command("demo")
    out = capsys.readouterr().out
    return out, json.loads(out.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_demo_creates_users_project_and_data_and_prints_json(small_demo, capsys):
    out, summary = _run(capsys)
    # The five demo users exist with the printed passwords and their roles
    assert [u["username"] for u in summary["users"]] == ["admin", "curator", "radiologist1", "radiologist2", "viewer"]
    assert [u["role"] for u in summary["users"]] == ["admin", "curator", "radiologist", "radiologist", "viewer"]
    for user in summary["users"]:
        assert User.objects.get(username=user["username"]).check_password(user["password"])
        assert f"password: {user['password']}" in out
    project = Project.objects.get(slug="demo")
    assert dict(Membership.objects.filter(project=project).values_list("user__username", "role")) == {
        "admin": "admin",
        "curator": "curator",
        "radiologist1": "radiologist",
        "radiologist2": "radiologist",
        "viewer": "viewer",
    }
    # Every job succeeded and the generated files are in storage
    assert summary["ok"] is True
    assert [(j["kind"], j["status"]) for j in summary["jobs"]] == [
        ("demo.generate", "succeeded"),
        ("ingest.import", "succeeded"),
        ("ingest.render", "succeeded"),
        ("nlp.mine_labels", "succeeded"),
        ("demo.generate", "succeeded"),
        ("qc.build_bank", "succeeded"),
        ("qc.import_masks", "succeeded"),
        ("qc.run", "succeeded"),
        ("review.fill", "succeeded"),
        ("review.fill", "succeeded"),
        ("structure.extract", "succeeded"),
        ("export.version", "succeeded"),
    ]
    fills = Job.objects.filter(kind="review.fill").order_by("id")
    mining_run = Job.objects.get(kind="nlp.mine_labels").result["run"]
    assert [job.params for job in fills] == [
        {"queue": "label", "required_reads": 2, "run": mining_run},
        {"queue": "mask", "required_reads": 2},
    ]
    assert summary["counts"]["qc_results"] > 0
    assert summary["counts"]["mined_labels"] > 0
    # The generated studies went through the ingest path: de-identified, registered, rendered
    counts = summary["counts"]
    assert counts["patients"] == 2
    assert counts["images"] == counts["rendered"] > 0
    assert counts["reports"] == counts["studies"] > 0
    # The raw sources (DICOM with invented PHI) were uploads, deleted once imported: none is left
    assert not default_storage.exists("projects/demo/sources")
    assert Upload.objects.filter(project=project).count() == 6
    assert Upload.objects.filter(project=project, deleted_at__isnull=True).count() == 0
    assert default_storage.listdir("projects/demo/uploads")[1] == []


@pytest.mark.django_db(transaction=True)
def test_demo_fills_the_queues_and_two_radiologists_read_a_few_items_disagreeing_on_one(small_demo, capsys):
    out, summary = _run(capsys)
    project = Project.objects.get(slug="demo")
    # One label item per mined study and one mask item per QC result not accepted, all double read
    label_items = ReviewItem.objects.filter(project=project, kind="label")
    assert label_items.count() == summary["counts"]["studies"] == 4
    assert ReviewItem.objects.filter(project=project, kind="mask").count() == summary["counts"]["qc_review_or_reject"]
    assert set(ReviewItem.objects.filter(project=project).values_list("required_reads", flat=True)) == {2}
    # Both radiologists read the same two items (half the small queue): one agreed, one in adjudication
    assert summary["review"] == {
        "queues": {
            "label": {"pending": 2, "in_review": 0, "decided": 1, "adjudication": 1, "final": 0},
            "mask": {"pending": 2, "in_review": 0, "decided": 1, "adjudication": 1, "final": 0},
            "structure": {"pending": 4, "in_review": 0, "decided": 0, "adjudication": 0, "final": 0},
        },
        "readers": ["radiologist1", "radiologist2"],
        "decisions": 8,
        "adjudications": 0,
    }
    reads = ReviewDecision.objects.filter(item__project=project, item__kind="label").order_by("id")
    assert sorted(reads.values_list("reader__username", flat=True)) == ["radiologist1"] * 2 + ["radiologist2"] * 2
    disputed = label_items.get(state=ReviewState.ADJUDICATION)
    first, second = (d.payload["labels"] for d in reads.filter(item=disputed).order_by("reader__username"))
    assert [label for label in first if first[label] != second[label]] == [demo._doubtful_label(disputed)["label"]]
    agreed = label_items.get(state=ReviewState.DECIDED)
    assert agreed.final == {"labels": reads.filter(item=agreed).first().payload["labels"]}
    # The reads went through the services: claimed, decided and audited like real ones; none left held
    review_actions = AuditEvent.objects.filter(project=project, action__startswith="review.")
    assert sorted(review_actions.values_list("action", flat=True)) == (
        ["review.claimed"] * 8 + ["review.decided"] * 8 + ["review.queue_filled"] * 3
    )
    # The structure job filled its queue: one double-read item per study with findings, conflicts first
    structure = list(ReviewItem.objects.filter(project=project, kind="structure").order_by("-priority", "id"))
    assert {item.required_reads for item in structure} == {2}
    conflicts = [sum(1 for row in item.prefill["findings"] if row["conflict"]) for item in structure]
    assert conflicts == sorted(conflicts, reverse=True)
    assert len(structure) == Finding.objects.filter(run__project=project).values("study").distinct().count()
    assert Claim.objects.filter(item__project=project, decided_at__isnull=True).count() == 0
    # The command says what is in the queues
    assert "  label review queue: 2 waiting, 1 decided, 1 in adjudication" in out
    assert "  mask review queue: 2 waiting, 1 decided, 1 in adjudication" in out


@pytest.mark.django_db(transaction=True)
def test_demo_reviews_the_worst_masks_so_the_calibration_has_points(small_demo, capsys):
    _run(capsys)
    project = Project.objects.get(slug="demo")
    # Both radiologists read the two worst mask items: one they corrected (their masks differ by the second
    # reader's more generous outline, so it awaits adjudication), one they accepted (decided)
    corrected = ReviewItem.objects.get(project=project, kind="mask", state=ReviewState.ADJUDICATION)
    accepted = ReviewItem.objects.get(project=project, kind="mask", state=ReviewState.DECIDED)
    assert accepted.final == {"verdict": "accept"}
    reads = ReviewDecision.objects.filter(item=corrected).order_by("reader__username")
    assert [d.payload["verdict"] for d in reads] == ["correct", "correct"]
    first, second = (set(d.payload["masks"]) for d in reads)
    assert first == second != set()
    assert Mask.objects.filter(project=project, source="reviewer").count() == 2 * len(first)
    # Each correction stored the machine mask's true Dice, below the demo readers' redraw threshold
    truths = MaskTruth.objects.filter(project=project)
    assert truths.count() == 2 * len(first)
    assert all(t.true_dice < demo.DEMO_MASK_FIX_BELOW and t.estimated_dice is not None for t in truths)
    # So the QC page's calibration has points of both kinds: corrections and the accepted set at Dice 1.0
    calibration = truth.calibration(project)
    kinds = sorted({p["kind"] for p in calibration["points"]})
    assert kinds == ["accepted", "corrected"]
    assert calibration["all"]["n"] == len(first) + Mask.objects.filter(pk__in=accepted.prefill["mask_ids"]).count()


@pytest.mark.django_db
def test_demo_reads_agree_on_all_but_the_most_doubtful_item_and_leave_the_rest_waiting():
    # Given the demo users and project, and twelve double-read label items of decreasing priority
    demo.ensure_demo_users()
    project = demo.ensure_demo_project()
    statuses = {"Edema": "uncertain", "Cardiomegaly": "negative", "Pleural Effusion": "positive"}
    items = [label_item(project, 0.9 - i / 20, required_reads=2, statuses=statuses) for i in range(12)]
    # When the demo makes its reads
    read = demo.make_demo_reads(project)
    # Then both radiologists read the five most doubtful items; the first goes to adjudication, the
    # next four are decided (the second with the doubtful label corrected by both), seven stay waiting
    assert read == 5
    states = [ReviewItem.objects.get(pk=item.pk).state for item in items]
    assert states == ["adjudication"] + ["decided"] * 4 + ["pending"] * 7
    first = {d.reader.username: d.payload for d in ReviewDecision.objects.filter(item=items[0])}
    assert first == {
        "radiologist1": {"labels": statuses, "comment": ""},
        "radiologist2": {"labels": {**statuses, "Edema": "positive"}, "comment": "I read Edema as positive."},
    }
    items[1].refresh_from_db()
    assert items[1].final == {"labels": {**statuses, "Edema": "positive"}}
    assert [ReviewItem.objects.get(pk=item.pk).final for item in items[2:5]] == [{"labels": statuses}] * 3
    assert ReviewDecision.objects.count() == 10
    # And making them again adds nothing
    assert demo.make_demo_reads(project) == 0
    assert (ReviewDecision.objects.count(), Claim.objects.count()) == (10, 10)


@pytest.mark.django_db(transaction=True)
def test_demo_is_safe_to_run_twice(small_demo, capsys):
    _, first = _run(capsys)
    _, second = _run(capsys)
    assert first["users"] == second["users"]
    assert [j["id"] for j in second["jobs"]] == [j["id"] for j in first["jobs"]]
    assert second["counts"] == first["counts"]
    assert second["review"] == first["review"]
    assert Job.objects.count() == 12
    assert second["dataset_version"] == first["dataset_version"]
    assert DatasetVersion.objects.count() == 1
    assert (User.objects.count(), Project.objects.count()) == (5, 1)
    # No second set of reads: the same decisions, claims and audit events as after the first run
    assert (ReviewDecision.objects.count(), Claim.objects.count(), ReviewItem.objects.count()) == (8, 8, 12)
    assert AuditEvent.objects.filter(action__startswith="review.").count() == 19
    # The mask reads are not made again either: one reviewer mask, and one truth, per corrected organ and reader
    assert MaskTruth.objects.count() == Mask.objects.filter(source="reviewer").count() > 0


@pytest.mark.django_db(transaction=True)
def test_demo_ends_with_a_frozen_version_whose_export_downloads_from_the_ui(small_demo, capsys):
    import io
    import re
    import zipfile

    from django.test import Client

    # Given the demo has run
    _, summary = _run(capsys)
    version = DatasetVersion.objects.get(project__slug="demo", name="demo-v1")
    assert summary["dataset_version"] == {"id": version.pk, "name": "demo-v1", "rows": version.row_count}
    assert version.row_count > 0 and len(version.content_hash) == 64
    export = Job.objects.get(kind="export.version")
    assert export.params == {"version": version.pk, "format": "nih", "images": "png8"}
    # When the demo admin opens the version's page and follows its download link
    admin = Client()
    admin.force_login(User.objects.get(username="admin"))
    page = admin.get(f"/p/demo/datasets/{version.pk}/").content.decode()
    link = re.search(rf'href="([^"]+)" data-testid="download-{export.pk}"', page).group(1).replace("&amp;", "&")
    response = admin.get(link)
    # Then the archive is the NIH layout with the data card beside it
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert "nih/Data_Entry_2017.csv" in names and "datacard.html" in names
    # And the demo viewer sees the version but gets no download link
    viewer = Client()
    viewer.force_login(User.objects.get(username="viewer"))
    viewer_page = viewer.get(f"/p/demo/datasets/{version.pk}/").content.decode()
    assert "demo-v1" in viewer_page and f'data-testid="download-{export.pk}"' not in viewer_page
