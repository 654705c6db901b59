"""QC on screen: the QC page's thresholds, calibration and links to the study and the mask review; the QC panel
on the study page; mask overlap on the agreement page."""

import pytest
from django.test import Client

from curation.models import JobStatus
from labeling import truth
from labeling.models import QcResult, ReviewState
from tests.factories import JobFactory
from tests.labeling.mask_helpers import correct, qc_image, square

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_as(members):
    def login(role):
        client = Client()
        client.force_login(members[role])
        return client

    return login


@pytest.fixture
def reviewed(project, members):
    """Three corrected hearts (moved 1, 2, 4 columns) and one accepted mask set, each with its estimate."""
    first = None
    for estimate, shift in ((0.95, 1), (0.85, 2), (0.70, 4)):
        image, machine, result, item = qc_image(project, {"heart": estimate, "lungs": 0.97}, organs=("heart",))
        truth.record_correction(
            [correct(project, members["radiologist"], image, machine, item, "heart", square(4, 4 + shift))]
        )
        first = first or (image, result, item)
    _image, _machine, _result, accepted = qc_image(project, {"heart": 0.9, "lungs": 0.96})
    accepted.state, accepted.final = ReviewState.DECIDED, {"verdict": "accept"}
    accepted.save()
    return first


def test_qc_page_shows_the_thresholds_of_the_newest_qc_run(project, members, client_as):
    image, _machine, result, _item = qc_image(project, {"heart": 0.8, "lungs": 0.9})
    job = JobFactory(
        project=project, kind="qc.run", status=JobStatus.SUCCEEDED, params={"review_below": 0.9, "reject_below": 0.55}
    )
    QcResult.objects.filter(pk=result.pk).update(job=job)
    page = client_as("viewer").get("/p/chest/masks/").content.decode()
    assert "Review below estimated Dice <strong>0.90</strong>, reject below <strong>0.55</strong>" in page
    assert f'(QC job <a href="/p/chest/jobs/{job.pk}/">#{job.pk}</a>)' in page
    assert "a stray part over <strong>5%</strong> of the organ, holes over <strong>3%</strong> of it" in page


def test_qc_page_shows_the_calibration_on_reviewed_masks(project, reviewed, client_as):
    page = client_as("viewer").get("/p/chest/masks/").content.decode()
    figures = truth.calibration(project)["all"]
    # Corrected: estimates 0.95/0.85/0.70 against Dice 0.9/0.8/0.6; accepted: 0.90 and 0.96 against 1.0
    assert figures["n"] == 5
    row = (
        f'<tr><td>All reviewed masks</td><td class="num">5</td><td class="num">{figures["spearman"]}</td>'
        f'<td class="num">{figures["pearson"]}</td><td class="num">{figures["mae"]}</td></tr>'
    )
    assert row in page
    assert '<tr><td>Corrected masks only</td><td class="num">3</td><td class="num">1.0</td>' in page
    assert page.count("<circle cx=") == 5 + 2  # five points and the two organs of the legend
    assert "heart: estimated 0.700, true 0.600 (corrected)" in page


def test_qc_rows_link_to_the_study_and_the_mask_review_item(project, reviewed, client_as):
    image, result, item = reviewed
    curator_page = client_as("curator").get("/p/chest/masks/").content.decode()
    radiologist_page = client_as("radiologist").get("/p/chest/masks/").content.decode()
    viewer_page = client_as("viewer").get("/p/chest/masks/").content.decode()
    study = f'href="/p/chest/studies/{image.study_id}/#qc-image-{image.pk}"'
    assert study in viewer_page
    assert (
        f'href="/p/chest/review/items/{item.pk}/adjudicate/" data-testid="mask-review-link">Mask review #{item.pk}'
        in (curator_page)
    )
    assert f'href="/p/chest/review/masks/?item={item.pk}" data-testid="mask-review-link">' in radiologist_page
    assert f"<span>Mask review #{item.pk} (pending)</span>" in viewer_page


def test_study_page_has_a_qc_panel_per_image(project, members, reviewed, client_as):
    image, result, item = reviewed
    QcResult.objects.filter(pk=result.pk).update(
        overlay="projects/chest/qc/overlays/x.png",
        flags=[
            {
                "code": "holes",
                "organ": "heart",
                "reason": "heart: holes cover 5.3% of the organ (over 3% goes to review)",
                "severity": "review",
                "value": 0.053,
            }
        ],
    )
    page = client_as("curator").get(f"/p/chest/studies/{image.study_id}/").content.decode()
    assert f'id="qc-image-{image.pk}"' in page
    assert f'src="/p/chest/masks/overlays/{result.pk}/"' in page
    assert '<span class="pill dec-review">Review</span>' in page
    assert "<dt>Estimated Dice</dt><dd>0.960" in page  # (0.95 + 0.97) / 2
    assert '<li class="sev-review">heart: holes cover 5.3% of the organ (over 3% goes to review)</li>' in page
    assert f'href="/p/chest/review/items/{item.pk}/adjudicate/"' in page
    assert "Reviewed heart: true Dice 0.900 (estimated 0.950) · radiologist" in page


def test_study_without_qc_has_no_panel(project, client_as):
    from tests.factories import ImageFactory

    image = ImageFactory(study__patient__project=project)
    page = client_as("viewer").get(f"/p/chest/studies/{image.study_id}/").content.decode()
    assert 'data-testid="qc-panel"' not in page


def test_agreement_page_shows_mask_overlap(project, members, client_as):
    from labeling.qc.rle import encode_chexmask_rle
    from labeling.review import masks as mask_review
    from labeling.review import queue

    _image, _machine, _result, item = qc_image(project, {"heart": 0.8, "lungs": 0.9})
    queue.next_item(members["radiologist"], project, "mask")
    mask_review.save_correction(members["radiologist"], project, item.pk, {"heart": encode_chexmask_rle(square(4, 6))})
    page = client_as("curator").get("/p/chest/review/agreement/?kind=mask").content.decode()
    assert 'data-testid="mask-agreement"' in page
    assert '<tr><td>radiologist</td><td class="num">1</td><td class="num">2</td><td class="num">0.9</td>' in page
