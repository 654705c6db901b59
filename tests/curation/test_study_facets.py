"""Study facets stay true to the tables: after an import (new studies and studies a later batch adds to),
a mining run, a QC job and rows saved one by one, every filter token matches exactly the studies that the
tables themselves say match. The reference below is each filter's definition written against the tables."""

import json

import pytest
from django.core.management import call_command
from django.db.models import Exists, OuterRef

from curation.bulk import insert_rows
from curation.models import Image, Report, Study
from curation.models.fields import TokenArray
from curation.services import facets
from curation.services.ingest_writer import IngestItem, write_batch
from curation.services.studies import StudyFilters, study_queryset
from labeling.models import QcResult
from nlp.models import LabelingRun, MinedLabel
from tests.factories import ImageFactory, StudyFactory


def reference(project, **filters):
    """Ids of the studies matching `filters`, read from the tables (the definitions the facets stand for)."""
    qs = Study.objects.filter(project=project)
    if "dataset" in filters:
        qs = qs.filter(dataset=filters["dataset"])
    if "sex" in filters:
        qs = qs.filter(sex=filters["sex"])
    if "has_report" in filters:
        qs = qs.filter(has_report=filters["has_report"])
    if "view" in filters:
        qs = qs.filter(Exists(Image.objects.filter(study=OuterRef("pk"), view_position=filters["view"])))
    ids = set(qs.values_list("pk", flat=True))
    if "label" in filters:
        ids &= {
            r.study_id
            for r in Report.objects.filter(study__project=project)
            if type((r.source_labels or {}).get(filters["label"])) in (int, float)
            and r.source_labels[filters["label"]] == 1
        }
    run = LabelingRun.objects.filter(project=project, complete=True).order_by("-id").first()
    if "mined_label" in filters or "mined_status" in filters:
        mined = MinedLabel.objects.filter(run=run) if run else MinedLabel.objects.none()
        if "mined_label" in filters:
            mined = mined.filter(label=filters["mined_label"], status=filters.get("mined_status", "positive"))
        else:
            mined = mined.filter(status=filters["mined_status"])
        ids &= set(mined.values_list("study_id", flat=True))
    if "qc_decision" in filters:
        newest = {}
        for pk, image_id, study_id, decision in QcResult.objects.filter(project=project).values_list(
            "pk", "image_id", "image__study_id", "decision"
        ):
            if image_id not in newest or pk > newest[image_id][0]:
                newest[image_id] = (pk, study_id, decision)
        ids &= {study for _pk, study, decision in newest.values() if decision == filters["qc_decision"]}
    return ids


def listed(project, **filters):
    query = {k: str(v).lower() if isinstance(v, bool) else v for k, v in filters.items()}
    return set(study_queryset(project, StudyFilters.from_query(query)).values_list("pk", flat=True))


FILTERS = [
    {"dataset": "nih"},
    {"sex": "F"},
    {"sex": "M", "view": "LAT"},
    {"has_report": True},
    {"has_report": False},
    {"view": "PA"},
    {"view": "LAT"},
    {"label": "Effusion"},
    {"label": "Pleural Effusion"},
    {"has_report": False, "label": "Effusion"},
    {"mined_label": "Effusion"},
    {"mined_label": "Effusion", "mined_status": "uncertain"},
    {"mined_status": "negative"},
    {"qc_decision": "accept"},
    {"qc_decision": "reject"},
    {"view": "LAT", "qc_decision": "reject", "label": "Effusion"},
]


def assert_facets_true(project):
    for filters in FILTERS:
        assert listed(project, **filters) == reference(project, **filters), filters


def _item(study, image, *, view="PA", sex="F", text=None, labels=None):
    return IngestItem(
        patient_key=f"P-{study}",
        study_key=study,
        image_key=image,
        sex=sex,
        view_position=view,
        report_text=text,
        source_labels=labels or {},
    )


@pytest.fixture
def imported(project):
    # Batch 1: a study with a report and labels, one without a report but with dataset labels (NIH style),
    # and a study whose first image has no report while its second has one.
    write_batch(
        project,
        "nih",
        [
            _item("s1", "i1", text="Small left effusion.", labels={"Effusion": 1, "Mass": 0}),
            _item("s2", "i2", sex="M", labels={"Effusion": 1}),
            _item("s3", "i3a", view="AP"),
            _item("s3", "i3b", view="LAT", text="No effusion.", labels={"Effusion": 0}),
        ],
    )
    # Batch 2: a new lateral view of s2 and a report for it (an existing study touched by a later batch).
    write_batch(project, "nih", [_item("s2", "i2b", view="LAT", sex="M", text="Possible effusion.")])
    return {s.study_key: s for s in Study.objects.filter(project=project)}


def test_import_gives_new_and_touched_studies_their_facets(project, imported):
    # Then a new study's facets come from its batch, and s2 gained its lateral view in the second batch
    assert "v:LAT" in Study.objects.get(pk=imported["s2"].pk).facets
    assert "r:1" in Study.objects.get(pk=imported["s3"].pk).facets
    assert_facets_true(project)


def test_mining_qc_and_single_saves_keep_facets_true(project, imported):
    s1, s2, s3 = imported["s1"], imported["s2"], imported["s3"]
    # Given a complete mining run written in bulk, as the mining job writes it, then completed
    run = LabelingRun.objects.create(project=project, label_space="chexpert", labeler_version="t")
    MinedLabel.objects.bulk_create(
        [
            MinedLabel(run=run, study=s1, label="Effusion", status="positive"),
            MinedLabel(run=run, study=s3, label="Effusion", status="negative"),
            MinedLabel(run=run, study=s2, label="Effusion", status="uncertain"),
        ]
    )
    assert listed(project, mined_label="Effusion") == set()  # not complete yet: the filters read no run
    run.complete = True
    run.save(update_fields=["complete"])
    assert_facets_true(project)
    # When a newer run completes without s1's label, s1 no longer matches
    newer = LabelingRun.objects.create(project=project, label_space="chexpert", labeler_version="t2")
    MinedLabel.objects.bulk_create([MinedLabel(run=newer, study=s3, label="Effusion", status="positive")])
    newer.complete = True
    newer.save(update_fields=["complete"])
    assert listed(project, mined_label="Effusion") == {s3.pk}
    assert_facets_true(project)
    # And QC results saved one by one, the newest per image counting
    image = Image.objects.get(image_key="i3b")
    QcResult.objects.create(project=project, image=image, estimated_dice=0.3, decision="reject", method="t")
    assert listed(project, qc_decision="reject") == {s3.pk}
    QcResult.objects.create(project=project, image=image, estimated_dice=0.9, decision="accept", method="t")
    assert listed(project, qc_decision="reject") == set()
    assert_facets_true(project)
    # And a study and image made one at a time (the API, the admin, factories)
    extra = StudyFactory(patient__project=project, dataset="nih", sex="F")
    ImageFactory(study=extra, view_position="LAT")
    Report.objects.create(study=extra, text="", source="nih", source_labels={"Effusion": 1.0})
    assert extra.pk in listed(project, view="LAT", label="Effusion")
    assert_facets_true(project)


def test_refresh_facets_command_repairs_rows_changed_behind_the_apps_back(project, imported, capsys):
    # Given facets emptied by hand-made SQL
    Study.objects.filter(project=project).update(facets=[])
    assert listed(project, dataset="nih") == set()
    # When the command runs
    call_command("refresh_facets", "--project", project.slug)
    # Then every study is back and the output says how many changed
    assert json.loads(capsys.readouterr().out) == {"changed": {project.slug: 3}}
    assert_facets_true(project)


def test_tokens_only_count_a_dataset_1_as_positive():
    got = facets.tokens(
        dataset="chexpert",
        sex="",
        has_report=False,
        views=["", "PA"],
        source_labels={"A": 1, "B": 1.0, "C": True, "D": "1", "E": 0, "F": -1, "G": None},
        mined=[("Edema", "uncertain"), ("Mass", "")],
        qc=["review", ""],
    )
    assert got == ["d:chexpert", "l:A", "l:B", "m:Edema:uncertain", "ms:uncertain", "q:review", "r:0", "v:PA"]


def test_bulk_copy_writes_token_arrays_with_awkward_label_names(project):
    # Label names hold spaces, commas, brackets and quotes (Open-i's MeSH terms): a COPY must keep them whole.
    names = ["Pulmonary Disease, Chronic Obstructive", 'A "quoted" (one)', "back\\slash", "{braces}"]
    patient = StudyFactory(patient__project=project).patient
    row = {
        "project_id": project.pk,
        "patient_id": patient.pk,
        "dataset": "openi",
        "study_key": "awkward",
        "facets": TokenArray(sorted(facets.label_token(n) for n in names)),
    }
    insert_rows(Study, [row], with_ids=True)
    study = Study.objects.get(study_key="awkward")
    assert study.facets == sorted(facets.label_token(n) for n in names)
    for name in names:
        found = Study.objects.filter(
            facets__has_all=[facets.label_token(name), "l:Pulmonary Disease, Chronic Obstructive"]
        )
        assert list(found.values_list("pk", flat=True)) == [study.pk]
    assert listed(project, label=names[0]) == {study.pk}


def test_a_list_query_over_its_budget_runs_again_on_the_index_plan(db, settings):
    from django.db import connection

    from curation.services.studies import within_plan_budget

    if connection.vendor != "postgresql":
        pytest.skip("the plan budget is PostgreSQL's (statement_timeout and planner settings)")
    settings.STUDY_LIST_PLAN_BUDGET_MS = 20
    seen = []

    def evaluate():
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_indexscan")
            seen.append(cursor.fetchone()[0])
            if len(seen) == 1:
                cursor.execute("SELECT pg_sleep(1)")  # the first plan runs past its budget
        return "page"

    # When a list query overruns, it is answered by the second attempt, with index walks off
    assert within_plan_budget(evaluate) == "page"
    assert seen == ["on", "off"]
    # And the rest of the transaction keeps its own settings
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
        cursor.execute("SHOW enable_indexscan")
        assert cursor.fetchone()[0] == "on"
