"""The project dashboard's figures, its server-drawn charts and prompts, and how jobs read on the job screens."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from curation.models import Job, JobStatus, Report
from curation.services.dashboard import dashboard_figures
from frontend import plots
from frontend.jobdisplay import describe, format_seconds
from labeling.models import Mask, QcResult, ReferenceBankFile, ReviewItem, ReviewKind, ReviewState
from nlp.models import LabelingRun
from tests.factories import ImageFactory, StudyFactory

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def client_as(members):
    def login(role):
        client = Client()
        client.force_login(members[role])
        return client

    return login


def _study(project, labels=None, text="Heart size normal."):
    study = StudyFactory(patient__project=project, dataset="nih", has_report=text != "")
    if labels is not None or text:
        Report.objects.create(study=study, text=text, source="nih", source_labels=labels or {})
    return study


def _qc_result(project, job, dice, decision, image=None):
    return QcResult.objects.create(
        project=project,
        image=image or ImageFactory(study__patient__project=project),
        job=job,
        mask_ids=[],
        estimated_dice=dice,
        estimates={},
        flags=[],
        decision=decision,
        metrics={},
        method="rca",
        version="1",
    )


def _label_item(project, study, state, final=None):
    return ReviewItem.objects.create(
        project=project,
        kind=ReviewKind.LABEL,
        study=study,
        target_key=f"study:{study.pk}",
        state=state,
        final=final,
    )


@pytest.fixture
def curated(project, members):
    """Four NIH studies (three with dataset labels), five images, a complete mining run, two QC jobs, review."""
    studies = [
        _study(project, {"Effusion": 1, "Cardiomegaly": 0, "Emphysema": 1}),
        _study(project, {"Effusion": 0, "Cardiomegaly": 1, "Emphysema": 0}),
        _study(project, {"Effusion": 1, "Cardiomegaly": -1, "Emphysema": 0}),
        _study(project, None, text=""),  # no report
    ]
    images = [ImageFactory(study=study) for study in studies] + [ImageFactory(study=studies[0])]
    mining = Job.objects.create(project=project, kind="nlp.mine_labels", status=JobStatus.SUCCEEDED)
    run = LabelingRun.objects.create(
        project=project,
        job=mining,
        label_space="chexpert",
        labeler_version="t",
        complete=True,
        reports=4,
        stats={
            "Pleural Effusion": {"positive": 2, "negative": 1},
            "Cardiomegaly": {"positive": 1, "uncertain": 1, "not_mentioned": 2},
        },
    )
    old_qc = Job.objects.create(project=project, kind="qc.run", status=JobStatus.SUCCEEDED)
    _qc_result(project, old_qc, 0.10, "reject", images[0])
    qc = Job.objects.create(
        project=project,
        kind="qc.run",
        status=JobStatus.SUCCEEDED,
        params={"review_below": 0.85, "reject_below": 0.6},
        finished_at=timezone.now(),
    )
    for image, (dice, decision) in zip(
        images, [(0.97, "accept"), (1.0, "accept"), (0.72, "review"), (0.30, "reject")], strict=False
    ):
        _qc_result(project, qc, dice, decision, image)
    final = {"labels": {"Pleural Effusion": "positive", "Cardiomegaly": "negative"}}
    decided = {"labels": {"Pleural Effusion": "negative", "Cardiomegaly": "positive"}}
    _label_item(project, studies[0], ReviewState.FINAL, final)
    _label_item(project, studies[1], ReviewState.DECIDED, decided)
    _label_item(project, studies[2], ReviewState.PENDING)
    _label_item(project, studies[3], ReviewState.ADJUDICATION)
    return {"run": run, "qc": qc}


def test_figures_count_the_dataset_mining_qc_and_review(project, curated):
    # When the dashboard's figures are computed
    figures = dashboard_figures(project)
    # Then the dataset counts studies, the studies with a report, and images
    assert (figures.studies, figures.reports, figures.images) == (4, 3, 5)
    # And mined labels by status are summed from the newest complete run's stats
    assert figures.run == curated["run"]
    assert figures.mined_by_status == {"positive": 3, "uncertain": 1, "negative": 1, "not_mentioned": 2}
    # And QC figures come from the newest succeeded QC job only, bucketed by 0.05 (1.0 in the top bucket)
    assert figures.qc_job == curated["qc"]
    assert figures.qc_decisions == {"accept": 2, "review": 1, "reject": 1}
    counts = {lo: n for lo, _hi, n in figures.dice_histogram if n}
    assert counts == {0.3: 1, 0.7: 1, 0.95: 2}
    assert len(figures.dice_histogram) == 20 and figures.dice_histogram[-1][:2] == (0.95, 1.0)
    # And review progress counts each state of the label queue
    [queue] = figures.review
    assert (queue.kind, queue.total, queue.done, queue.percent) == ("label", 4, 2, 50)
    assert queue.states == {"Pending": 1, "In review": 0, "Decided": 1, "Adjudication": 1, "Final": 1}


def test_prevalence_per_label_and_source(project, curated):
    figures = dashboard_figures(project)
    rows = {row.label: row for row in figures.prevalence}
    # Dataset: NIH "Effusion" is CheXpert "Pleural Effusion", positive in 2 of the 3 reports with dataset labels
    assert (rows["Pleural Effusion"].dataset, rows["Cardiomegaly"].dataset) == (2 / 3, 1 / 3)
    # Mined: positives of the run over its 4 reports; reviewed: positives in the 2 final answers
    assert (rows["Pleural Effusion"].mined, rows["Cardiomegaly"].mined) == (0.5, 0.25)
    assert (rows["Pleural Effusion"].reviewed, rows["Cardiomegaly"].reviewed) == (0.5, 0.5)
    # And a label of the space nobody has data on reads 0 where a source exists; NIH Emphysema has no CheXpert label
    assert (rows["Pneumothorax"].dataset, rows["Pneumothorax"].mined) == (0.0, 0.0)
    assert "Emphysema" not in rows
    assert list(rows)[:3] == ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly"]
    assert (figures.dataset_reports, figures.dataset_sampled, figures.reviewed_items) == (3, False, 2)


def test_dataset_labels_read_only_the_newest_reports_up_to_the_cap(project):
    from curation.services.dashboard import dataset_label_counts

    _study(project, {"Effusion": 1})
    _study(project, {"Effusion": 0})
    _study(project, {"Effusion": -1})
    labels, reports, sampled = dataset_label_counts(project, limit=2)
    assert (labels, reports, sampled) == ({("nih", "Effusion"): (0, 1)}, {"nih": 2}, True)


def test_import_figures_are_kept_until_the_newest_import_job_changes(project):
    _study(project, {"Effusion": 1})
    assert dashboard_figures(project).studies == 1
    # Given a study that arrives without an import job (only tests do that), the cached count stays
    _study(project, {"Effusion": 1})
    assert dashboard_figures(project).studies == 1
    # When an import job is created or moves on, the figures are counted again
    job = Job.objects.create(project=project, kind="ingest.import", status=JobStatus.RUNNING)
    assert dashboard_figures(project).studies == 2
    _study(project, {"Effusion": 1})
    job.progress_done = 1
    job.save()
    assert (dashboard_figures(project).studies, dashboard_figures(project).dataset_reports) == (3, 3)


def test_an_empty_project_has_zero_figures_and_no_charts(project, client_as):
    figures = dashboard_figures(project)
    assert (figures.studies, figures.reports, figures.images, figures.run, figures.qc_job) == (0, 0, 0, None, None)
    assert figures.review == [] and figures.needs_mining is False and figures.needs_qc is False
    html = client_as("admin").get("/p/chest/").content.decode()
    assert "<svg" not in html and 'data-testid="prompt-' not in html


def test_dashboard_figures_take_the_same_queries_however_much_data(project, django_assert_num_queries):
    from django.core.cache import cache

    _study(project, {"Effusion": 1})
    cache.clear()
    with django_assert_num_queries(11):
        dashboard_figures(project)
    for _ in range(5):
        _study(project, {"Effusion": 0})
    cache.clear()
    with django_assert_num_queries(11):
        dashboard_figures(project)


def test_dashboard_draws_well_formed_accessible_svg_without_inline_style(project, curated, client_as):
    html = client_as("viewer").get("/p/chest/").content.decode()
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert len(svgs) == 2
    for svg in svgs:
        root = ET.fromstring(svg)  # noqa: S314 -- our own output
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert all(el.get("style") is None for el in root.iter())
    assert "Share of reports positive per label (chexpert), by source" in svgs[0]
    assert "Estimated Dice of the masks judged by QC job" in svgs[1]
    # And the numbers are in a table too
    assert 'data-testid="prevalence-table"' in html and 'data-testid="dice-table"' in html
    assert '<td class="num">66.7%</td>' in html
    assert 'data-testid="figure-studies">4<' in html and 'data-testid="figure-qc-accept">2<' in html


def test_chart_text_is_escaped_and_bars_scale_with_the_value():
    svg = plots.grouped_bars(
        "c", 'Labels <"&">', ["<script>", "B"], [plots.Series("mined", [0.5, None], "#000")], max_value=1.0
    )
    root = ET.fromstring(str(svg))  # noqa: S314 -- our own output
    assert root.find(f"{SVG}title").text == 'Labels <"&">'
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "<script>" in texts and "<script>" not in str(svg)
    [bar] = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert (bar.get("width"), bar.find(f"{SVG}title").text) == ("150", "<script>, mined: 50.0%")
    assert "B: mined no value" in root.find(f"{SVG}desc").text


def test_histogram_bars_are_as_tall_as_their_counts():
    svg = plots.histogram("h", "Dice", [(0.0, 0.5, 1), (0.5, 1.0, 2)], x_label="dice", marks=[(0.6, "reject")])
    root = ET.fromstring(str(svg))  # noqa: S314 -- our own output
    bars = [r for r in root.iter(f"{SVG}rect")]
    assert [float(b.get("height")) for b in bars] == [75.0, 150.0]
    assert root.find(f"{SVG}desc").text == "3 values. 0.00–0.50: 1; 0.50–1.00: 2"
    assert "reject" in [t.text for t in root.iter(f"{SVG}text")]


# --- prompts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role,shown", [("admin", True), ("curator", True), ("radiologist", False), ("viewer", False)])
def test_unmined_reports_prompt_those_who_may_start_mining(project, client_as, role, shown):
    _study(project, {})
    html = client_as(role).get("/p/chest/").content.decode()
    assert ('data-testid="prompt-nlp.mine_labels"' in html) is shown
    assert ('data-testid="prompt-start-nlp.mine_labels"' in html) is shown


def test_the_mining_prompt_starts_the_job(project, client_as):
    _study(project, {})
    response = client_as("curator").post("/p/chest/jobs/start/", {"kind": "nlp.mine_labels"})
    job = Job.objects.get(kind="nlp.mine_labels")
    assert response.status_code == 302 and response["Location"] == f"/p/chest/jobs/{job.pk}/"


def test_a_running_mining_job_replaces_the_button_with_its_link(project, client_as):
    _study(project, {})
    job = Job.objects.create(project=project, kind="nlp.mine_labels", status=JobStatus.RUNNING)
    html = client_as("admin").get("/p/chest/").content.decode()
    assert 'data-testid="prompt-job-nlp.mine_labels"' in html and f"/p/chest/jobs/{job.pk}/" in html
    assert 'data-testid="prompt-start-nlp.mine_labels"' not in html


def test_a_complete_run_ends_the_mining_prompt(project, client_as):
    _study(project, {})
    LabelingRun.objects.create(project=project, label_space="chexpert", labeler_version="t", complete=True)
    html = client_as("admin").get("/p/chest/").content.decode()
    assert 'data-testid="prompt-nlp.mine_labels"' not in html


def _mask(project):
    image = ImageFactory(study__patient__project=project)
    return Mask.objects.create(project=project, image=image, organ="heart", rle="1 2", height=4, width=4)


@pytest.mark.parametrize("role,shown", [("admin", True), ("curator", True), ("radiologist", False), ("viewer", False)])
def test_masks_without_qc_prompt_those_who_may_start_qc(project, client_as, role, shown):
    _mask(project)
    ReferenceBankFile.objects.create(project=project, storage_name="banks/b.npz", references=3)
    html = client_as(role).get("/p/chest/").content.decode()
    assert ('data-testid="prompt-start-qc.run"' in html) is shown


def test_the_qc_prompt_asks_for_a_reference_bank_first(project, client_as):
    _mask(project)
    html = client_as("admin").get("/p/chest/").content.decode()
    assert 'data-testid="prompt-qc.run"' in html and 'data-testid="prompt-start-qc.run"' not in html
    assert "build one on the Masks page" in html


def test_qc_results_end_the_qc_prompt(project, client_as):
    _mask(project)
    _qc_result(project, None, 0.9, "accept")
    html = client_as("admin").get("/p/chest/").content.decode()
    assert 'data-testid="prompt-qc.run"' not in html


# --- jobs -------------------------------------------------------------------------------------------


def test_durations_read_in_their_two_largest_units():
    seconds = (0, 45, 192, 120, 7500, 7230, 97200)
    expected = ["0 s", "45 s", "3 min 12 s", "2 min", "2 h 5 min", "2 h", "1 d 3 h"]
    assert [format_seconds(s) for s in seconds] == expected


def test_a_job_reads_with_its_human_name_duration_and_outcome(project):
    started = timezone.now() - timedelta(hours=1)
    job = Job.objects.create(
        project=project,
        kind="nlp.mine_labels",
        status=JobStatus.SUCCEEDED,
        error_count=3,
        started_at=started,
        finished_at=started + timedelta(minutes=4, seconds=12),
        result={"run": 7},
    )
    shown = describe(job)
    assert (shown.label, shown.outcome, shown.with_errors, shown.duration) == (
        "Mine labels from reports",
        "Succeeded with 3 errors",
        True,
        "4 min 12 s",
    )
    assert (shown.made_url, shown.made_text) == ("/p/chest/labels/?run=7", "Labeling run #7")
    job.error_count = 1
    assert describe(job).outcome == "Succeeded with 1 error"


def test_a_running_job_says_how_long_it_has_run(project):
    now = timezone.now()
    job = Job.objects.create(
        project=project, kind="qc.run", status=JobStatus.RUNNING, started_at=now - timedelta(seconds=75)
    )
    shown = describe(job, now=now)
    assert (shown.label, shown.outcome, shown.duration, shown.made_url) == (
        "Mask QC",
        "Running",
        "running for 1 min 15 s",
        "",
    )


@pytest.mark.parametrize(
    "kind,params,url",
    [
        ("qc.run", {}, "/p/chest/masks/"),
        ("qc.import_masks", {}, "/p/chest/masks/"),
        ("ingest.import", {}, "/p/chest/studies/"),
        ("ingest.render", {}, "/p/chest/studies/"),
        ("review.fill", {"queue": "mask"}, "/p/chest/review/agreement/?kind=mask"),
        ("demo.generate", {}, ""),
    ],
)
def test_a_succeeded_job_links_to_what_it_made(project, kind, params, url):
    job = Job.objects.create(project=project, kind=kind, status=JobStatus.SUCCEEDED, params=params)
    assert describe(job).made_url == url
    job.status = JobStatus.FAILED
    assert describe(job).made_url == ""


def test_an_unregistered_kind_reads_as_its_code(project):
    job = Job.objects.create(project=project, kind="gone.kind", status=JobStatus.QUEUED)
    assert (describe(job).label, describe(job).duration) == ("gone.kind", "")


def test_job_list_and_detail_show_names_outcomes_and_links_not_kind_codes(project, client_as):
    started = timezone.now() - timedelta(minutes=5)
    job = Job.objects.create(
        project=project,
        kind="ingest.import",
        status=JobStatus.SUCCEEDED,
        error_count=2,
        started_at=started,
        finished_at=started + timedelta(seconds=90),
    )
    listing = client_as("viewer").get("/p/chest/jobs/").content.decode()
    assert f'data-testid="job-label-{job.pk}">Import studies</td>' in listing
    assert f'data-testid="job-outcome-{job.pk}">Succeeded with 2 errors</span>' in listing
    assert f'data-testid="job-duration-{job.pk}">1 min 30 s</td>' in listing
    assert f'<a href="/p/chest/studies/" data-testid="job-made-{job.pk}">Studies</a>' in listing
    assert ">ingest.import<" not in listing
    detail = client_as("viewer").get(f"/p/chest/jobs/{job.pk}/").content.decode()
    assert 'data-testid="job-status">Succeeded with 2 errors</span>' in detail
    assert 'data-testid="job-duration">1 min 30 s</dd>' in detail
    assert '<a href="/p/chest/studies/" data-testid="job-made">Studies →</a>' in detail
    dashboard = client_as("viewer").get("/p/chest/").content.decode()
    assert f'data-testid="job-label-{job.pk}">Import studies</td>' in dashboard
