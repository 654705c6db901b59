"""The label-mining job: runs kept per version, bulk MinedLabel rows with evidence, review order, diffs."""

import json

import pytest

from curation.demo import generate_dataset
from curation.models import PseudonymMap, Report
from curation.services import ingest
from curation.services.jobs import start_job
from nlp.models import LabelingRun, MinedLabel
from tests.factories import StudyFactory


@pytest.fixture
def run_job(settings, django_capture_on_commit_callbacks):
    settings.JOBS_IN_PROCESS_THREAD = False

    def run(user, project, kind, params):
        with django_capture_on_commit_callbacks(execute=True):
            job = start_job(user, project, kind, params)
        job.refresh_from_db()
        return job

    return run


def _report(project, text, source="dicom", labels=None):
    study = StudyFactory(patient__project=project, dataset=source, has_report=True)
    Report.objects.create(study=study, text=text, source=source, source_labels=labels or {})
    return study


def test_mining_generated_reports_agrees_with_their_known_labels(members, project, run_job, tmp_path):
    # Given the demo generator's reports, whose true labels are known, imported through ingest
    source = tmp_path / "src"
    generate_dataset(source, n_patients=6, seed=3, image_size=64)
    ingest.import_from_cli("chest", "dicom", str(source))
    truth = json.loads((source / "truth.json").read_text())["studies"]
    uid_map = dict(PseudonymMap.objects.filter(kind="uid").values_list("original", "pseudonym"))
    # When the curator mines labels
    job = run_job(members["curator"], project, "nlp.mine_labels", {"label_space": "chexpert"})
    assert job.status == "succeeded", job.message
    run = LabelingRun.objects.get(job=job)
    # Then the mined statuses match the generator's truth for nearly every mentioned label
    agree = total = 0
    for original_uid, study in truth.items():
        mined = dict(
            MinedLabel.objects.filter(run=run, study__study_key=uid_map[original_uid]).values_list("label", "status")
        )
        for label, item in study["report"]["labels"].items():
            total += 1
            agree += mined.get(label) == item["status"]
    assert total > 30
    assert agree / total >= 0.9, (agree, total)
    # And every positive label carries evidence whose offsets point at its words in the report
    for label in MinedLabel.objects.filter(run=run, status="positive").select_related("study__report"):
        text = label.study.report.text
        for item in label.evidence:
            assert text[item["start"] : item["end"]] == item["text"]


def test_rerun_keeps_the_old_run_and_shows_what_changed(members, project, run_job, api):
    # Given a report whose wording the base vocabulary does not know, and a first run
    study = _report(project, "FINDINGS: Right-sided hydropneumothorax-like collection, termed fluidoma here.")
    _report(project, "FINDINGS: No pleural effusion. Lungs are clear.")
    first = LabelingRun.objects.get(job=run_job(members["admin"], project, "nlp.mine_labels", {}))
    assert not MinedLabel.objects.filter(run=first, study=study, label="Pleural Effusion", status="positive").exists()
    # When the project teaches the vocabulary a synonym and mines again
    response = api(members["curator"]).put(
        "/api/projects/chest/vocabulary/", {"synonyms": {"pleural_effusion": ["fluidoma"]}}, format="json"
    )
    assert response.status_code == 200, response.content
    second = LabelingRun.objects.get(job=run_job(members["admin"], project, "nlp.mine_labels", {}))
    # Then both runs exist, the second names the first, and the change is listed
    assert second.previous_id == first.pk
    assert second.labeler_version != first.labeler_version
    assert MinedLabel.objects.filter(run=first).count() > 0
    assert MinedLabel.objects.get(run=second, study=study, label="Pleural Effusion").status == "positive"
    assert second.changes["added"] + second.changes["changed"] >= 1
    body = api(members["viewer"]).get(f"/api/projects/chest/labeling-runs/{second.pk}/labels/?changed=1").json()
    changed = {(r["study"], r["label"]): r["previous_status"] for r in body["results"]}
    assert changed[(study.pk, "Pleural Effusion")] is None


def test_review_order_puts_hedged_and_disagreeing_labels_first(members, project, run_job, api):
    clear = _report(project, "FINDINGS: Large right pleural effusion.", source="nih", labels={"Effusion": 1})
    hedged = _report(project, "FINDINGS: Possible small left pleural effusion.")
    disagree = _report(project, "FINDINGS: No pleural effusion.", source="nih", labels={"Effusion": 1})
    run = LabelingRun.objects.get(job=run_job(members["admin"], project, "nlp.mine_labels", {}))
    body = (
        api(members["radiologist"])
        .get(f"/api/projects/chest/labeling-runs/{run.pk}/labels/?label=Pleural Effusion")
        .json()
    )
    order = [r["study"] for r in body["results"]]
    assert order.index(clear.pk) > order.index(hedged.pk)
    assert order.index(clear.pk) > order.index(disagree.pk)
    row = next(r for r in body["results"] if r["study"] == disagree.pk)
    assert (row["status"], row["native_status"]) == ("negative", "positive")
    assert "native_disagreement" in row["priority_reasons"]


def test_bad_vocabulary_extension_is_a_400_listing_the_problems(members, api):
    response = api(members["admin"]).put(
        "/api/projects/chest/vocabulary/",
        {"findings": [{"id": "thing", "terms": ["pneumothorax"], "labels": {"chexpert": "Not A Label"}}]},
        format="json",
    )
    assert response.status_code == 400
    problems = response.json()["extension"]
    assert any("Not A Label" in p for p in problems)


def test_empty_and_huge_reports_do_not_stop_the_run(members, project, run_job):
    _report(project, "FINDINGS: Mild cardiomegaly.")
    _report(project, "IMPRESSION:")
    _report(project, "No acute disease. " * 60000)
    job = run_job(members["admin"], project, "nlp.mine_labels", {})
    assert job.status == "succeeded"
    assert job.progress_done == 3
    run = LabelingRun.objects.get(job=job)
    assert MinedLabel.objects.filter(run=run, label="Cardiomegaly", status="positive").count() == 1
