"""Browser walk-through of the label-mining and mask-QC screens in real Chromium."""

import re
import shutil

import pytest
from playwright.sync_api import expect

from curation.demo import generate_dataset
from curation.dispatch import run_in_process
from curation.services import ingest
from curation.services.jobs import start_job
from labeling.models import QcResult
from nlp.models import MinedLabel
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def curated(project, members, tmp_path, settings):
    """An imported synthetic dataset with mined labels, a reference bank, masks and QC results."""
    source = tmp_path / "incoming" / "data"
    generate_dataset(source, n_patients=4, seed=13, image_size=128)
    generate_dataset(tmp_path / "refs", n_patients=10, seed=77, image_size=128)
    shutil.copytree(tmp_path / "refs" / "truth_masks", tmp_path / "incoming" / "bank")
    settings.IMPORT_ALLOWED_ROOTS = [str(tmp_path / "incoming")]
    ingest.import_from_cli("chest", "dicom", str(source))
    admin = members["admin"]
    with run_in_process():
        start_job(admin, project, "nlp.mine_labels", {})
        start_job(admin, project, "qc.build_bank", {"path": str(tmp_path / "incoming" / "bank")})
        start_job(
            admin,
            project,
            "qc.import_masks",
            {"format": "label_png", "match": "original_uid", "path": str(source / "masks")},
        )
        start_job(admin, project, "qc.run", {})
    assert MinedLabel.objects.exists() and QcResult.objects.exists()


def test_radiologist_reads_doubtful_labels_with_evidence_and_the_worst_masks(page, live_server, members, curated):
    # Given a radiologist logged in
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("radiologist")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/p/chest/")
    # When they open the mined labels with the keyboard
    page.keyboard.press("g")
    page.keyboard.press("l")
    expect(page.get_by_role("heading", name="Mined labels")).to_be_visible()
    # Then the most doubtful label comes first, and radiologists cannot start mining
    first = MinedLabel.objects.order_by("-priority", "id").first()
    expect(page.locator("table[data-rows] tbody tr").first).to_contain_text(first.label)
    expect(page.get_by_test_id("mine-labels")).to_have_count(0)
    # And opening it shows the report with the evidence marked
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("mined-labels")).to_be_visible()
    expect(page.locator("[data-testid=report-text] mark").first).to_be_visible()
    # When they open mask QC (once the study page's scripts run: the shortcut is theirs, and the study
    # page's own "Mask QC" panel heading must not pass for the QC page)
    page.wait_for_load_state("load")
    page.keyboard.press("g")
    page.keyboard.press("m")
    expect(page).to_have_url(re.compile(r"/p/chest/masks/"))
    expect(page.get_by_role("heading", name="Mask QC", level=1)).to_be_visible()
    # Then the worst mask set is listed first with its estimated Dice and the reasons
    worst = QcResult.objects.order_by("estimated_dice", "id").first()
    row = page.get_by_test_id("qc-row").first
    expect(row).to_contain_text(f"{worst.estimated_dice:.3f}")
    expect(row.locator("img.overlay")).to_be_visible()
    expect(page.get_by_test_id("run-qc")).to_have_count(0)
