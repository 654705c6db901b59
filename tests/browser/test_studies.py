"""Browser walk-through of ingest and the study browser: upload a zip, watch the import, open a study,
adjust window/level with the keyboard."""

import os
import zipfile

import pytest
from playwright.sync_api import expect

from curation.demo import generate_dataset
from curation.models import Job, JobStatus, Study
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_if_configured(request):
    if os.environ.get("CELERY_BROKER_URL"):
        return request.getfixturevalue("celery_worker_process")
    return None


@pytest.fixture
def dicom_zip(tmp_path):
    src = tmp_path / "src"
    generate_dataset(src, n_patients=2, seed=5, image_size=128)
    path = tmp_path / "batch.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted((src / "dicom").rglob("*.dcm")):
            zf.write(file, file.relative_to(src).as_posix())
        zf.write(src / "reports.csv", "reports.csv")
    return path


def _login(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_curator_uploads_a_zip_and_browses_the_imported_studies(
    page, live_server, members, dicom_zip, worker_if_configured
):
    # Given a curator on the import page
    _login(page, live_server, "curator")
    page.goto(f"{live_server.url}/p/chest/")
    page.get_by_test_id("import-link").click()
    # When they upload a zip of DICOM files
    page.get_by_label("Source format").select_option("dicom")
    page.get_by_label("Zip archive (DICOM files, or a manifest with its images)").set_input_files(str(dicom_zip))
    page.get_by_role("button", name="Start import").click()
    # Then the import job's bar finishes
    job = Job.objects.filter(kind="ingest.import").latest("pk")
    expect(page.get_by_test_id(f"progress-{job.pk}")).to_have_attribute("aria-valuenow", "100", timeout=90_000)
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded")
    render = Job.objects.get(kind="ingest.render")
    page.goto(f"{live_server.url}/p/chest/jobs/{render.pk}/")
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=90_000)
    assert Job.objects.get(pk=render.pk).status == JobStatus.SUCCEEDED
    # And the studies are listed; the keyboard opens the first one
    page.keyboard.press("g")
    page.keyboard.press("s")
    expect(page.get_by_role("heading", name="Studies")).to_be_visible()
    rows = page.locator("table[data-rows] tbody tr")
    expect(rows).to_have_count(Study.objects.count())
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    # And the viewer draws the radiograph and window/level follows the arrow keys
    expect(page.get_by_test_id("report-text")).to_be_visible()
    first_pane = page.get_by_test_id("viewer-pane").first
    wl = first_pane.locator("[data-wl]")
    from curation.models import Image

    study_image = Image.objects.get(pk=int(first_pane.get_attribute("data-image")))
    meta = study_image.display_meta
    # The viewer starts at the image's own window (from the DICOM window tags or a percentile window), shown in
    # the image's own units: stored value x rescale slope + rescale intercept
    width = meta["window_width"] * meta["rescale_slope"]
    level = meta["window_center"] * meta["rescale_slope"] + meta["rescale_intercept"]
    expect(wl).to_contain_text(f"W {round(width)} · L {round(level)}")
    before = wl.inner_text()
    # The canvas is painted once the 16-bit rendering has loaded and decoded, which may come after the window's
    # text: wait for it (up to the page's timeout) rather than read the canvas once.
    painted = page.wait_for_function(
        "() => { const c = document.getElementById('viewer-canvas'); if (!c || !c.width) return 0;"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++; return n > 100 ? n : 0; }"
    ).json_value()
    assert painted > 100
    page.keyboard.press("Shift+ArrowRight")  # window/level sits on Shift+arrows (keymap.js)
    expect(wl).not_to_have_text(before)
    page.keyboard.press("i")
    expect(wl).to_contain_text("inverted")
