"""The demo's burned-in images (a patient's name, id and study date drawn into the pixels) can all be redacted,
and afterwards none of their stored files shows the text and the PHI scan of tests/curation/test_phi_everywhere.py
still finds nothing anywhere. The scan reads metadata, not pixels: the text pixels are checked against the
generator's own drawing of each image's text (tests/curation/redaction_helpers.py)."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from curation.demo import generate_dataset
from curation.models import Image, PseudonymMap, User
from curation.models.studies import Redaction
from curation.services import demo, redaction
from labeling.models import QcResult
from tests.curation.redaction_helpers import (
    bounding_box,
    display_sense,
    stored_dicom,
    stored_png,
    text_contrast,
    text_masks,
)
from tests.curation.test_phi_everywhere import _present_in, _truth_phi
from tests.phi_scan import assert_no_phi

RENDERINGS = ("display", "display16", "thumbnail")


@pytest.mark.django_db(transaction=True)
def test_every_burned_in_image_of_the_demo_is_redacted_and_no_file_shows_its_text(monkeypatch, settings, tmp_path):
    # Given the demo, regenerated from its seeds (both cohorts) so the text of each image is known
    settings.JOBS_IN_PROCESS_THREAD = False
    params = {"patients": 2, "seed": 3, "image_size": 64}
    monkeypatch.setattr(demo, "DEMO_PARAMS", params)
    truths, phi = [], {}
    for seed in (params["seed"], params["seed"] + 1000):
        folder = tmp_path / f"cohort{seed}"
        generate_dataset(folder, n_patients=params["patients"], seed=seed, image_size=params["image_size"])
        truth = json.loads((folder / "truth.json").read_text())
        values = _truth_phi(truth)
        phi.update({v: kind for v, kind in values.items() if v in _present_in(folder, values)})
        truths.append(truth)
    call_command("demo")
    masks = {key: mask for truth in truths for key, mask in text_masks(truth).items()}
    waiting = list(Image.objects.filter(redaction=Redaction.NEEDED).select_related("project").order_by("pk"))
    # The demo's burned-in images all wait for redaction, and each one shows its text today
    assert len(waiting) >= 1
    assert {image.image_key for image in waiting} == set(masks)
    for image in waiting:
        assert text_contrast(stored_png(image.display), masks[image.image_key]) > 0
    # When the curator redacts each over its text
    curator = User.objects.get(username="curator")
    for image in waiting:
        redaction.redact(curator, image.project, image.pk, [bounding_box(masks[image.image_key])])
    # Then no stored DICOM and no rendering of them shows the text, and nothing else of theirs is stored
    media = Path(settings.MEDIA_ROOT)
    for image in waiting:
        image.refresh_from_db()
        mask = masks[image.image_key]
        assert image.redaction == Redaction.DONE
        assert text_contrast(display_sense(stored_dicom(image.original)), mask) == 0
        for which in RENDERINGS:
            assert text_contrast(stored_png(getattr(image, which)), mask) == 0, which
        renders = {p.name for p in (media / f"projects/{image.project.slug}/renders/{image.pk}").iterdir()}
        assert renders == {"display.png", "display16.png", "thumb.png"}
        assert not QcResult.objects.filter(image=image).exclude(overlay="").exists()
        assert not list((media / f"projects/{image.project.slug}/qc/overlays").glob(f"{image.pk}-*.png"))
    # And every image of the project may now be exported
    for project_id in {image.project_id for image in waiting}:
        project = waiting[0].project.__class__.objects.get(pk=project_id)
        assert redaction.exportable_images(project).count() == Image.objects.filter(project=project).count()
    # And the PHI scan still finds no seeded value in any file or column
    assert assert_no_phi(media, phi, exclude_models=(PseudonymMap,)) > Image.objects.count()
