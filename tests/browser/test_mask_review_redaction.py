"""Browser walk-through of burned-in text redaction: a curator opens the list of images waiting for redaction,
draws a box over the text the demo generator burned into an image, saves, and the stored rendering (and the
canvas showing it) no longer holds the text pixels."""

import json

import numpy as np
import pytest
from playwright.sync_api import expect

from curation.demo import generate_dataset
from curation.models import Image
from curation.models.studies import Redaction
from curation.services import ingest
from tests.curation.redaction_helpers import bounding_box, stored_png, text_contrast, text_masks
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def burned(members, tmp_path, settings):
    """A generated dataset imported and rendered; the first image waiting for redaction and its text mask."""
    settings.JOBS_IN_PROCESS_THREAD = False
    source = tmp_path / "generated"
    generate_dataset(source, n_patients=1, seed=5, image_size=256)
    truth = json.loads((source / "truth.json").read_text())
    (source / "truth.json").unlink()
    ingest.import_from_cli("chest", "dicom", str(source))
    image = Image.objects.filter(redaction=Redaction.NEEDED).order_by("pk").first()
    return image, text_masks(truth)[image.image_key]


def _login(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _canvas_box(page, x0, y0, x1, y1) -> list[int]:
    """The canvas's pixels in the box as RGBA values (what the user sees there)."""
    return page.evaluate(
        """([x0, y0, x1, y1]) => {
            const c = document.querySelector("[data-testid=redact-canvas]");
            return Array.from(c.getContext("2d").getImageData(x0, y0, x1 - x0, y1 - y0).data);
        }""",
        [x0, y0, x1, y1],
    )


def test_curator_redacts_a_burned_in_image_and_the_rendering_loses_the_text(page, live_server, burned):
    # Given a burned-in image whose stored rendering shows the patient's name, id and date
    image, mask = burned
    x0, y0, x1, y1 = bounding_box(mask)
    before = stored_png(image.display)
    assert text_contrast(before, mask) > 0
    assert int(before[y0:y1, x0:x1].max()) == 255
    # When a curator opens the images waiting for redaction and picks it
    _login(page, live_server, "curator")
    page.goto(f"{live_server.url}/p/chest/images/redaction/")
    expect(page.get_by_test_id("redaction-row")).to_have_count(Image.objects.filter(redaction="needed").count())
    page.get_by_test_id("redaction-row").first.get_by_role("link", name="Redact →").click()
    expect(page.get_by_test_id("redaction-state")).to_have_text("Needs redaction")
    canvas = page.get_by_test_id("redact-canvas")
    # An attribute the script sets once the picture is drawn (a canvas is 300 wide before it; and CSP forbids
    # the string evaluation wait_for_function would poll with).
    expect(page.get_by_test_id("redact-canvas")).to_have_attribute("data-drawn", "1")
    # The canvas shows the text before anything is saved
    assert max(_canvas_box(page, x0, y0, x1, y1)) == 255
    # And draws a box over the text (points inside the first and last pixels: the box rounds outwards)
    rect = canvas.bounding_box()
    scale_x, scale_y = rect["width"] / image.columns, rect["height"] / image.rows
    page.mouse.move(rect["x"] + (x0 + 0.3) * scale_x, rect["y"] + (y0 + 0.3) * scale_y)
    page.mouse.down()
    page.mouse.move(rect["x"] + (x0 + x1) / 2 * scale_x, rect["y"] + (y0 + y1) / 2 * scale_y, steps=4)
    page.mouse.move(rect["x"] + (x1 - 0.3) * scale_x, rect["y"] + (y1 - 0.3) * scale_y, steps=4)
    page.mouse.up()
    expect(page.get_by_test_id("box-list").locator("li")).to_have_count(1)
    # And saves
    page.get_by_test_id("redact-save").click()
    # Then the page says so and shows the redacted image: black where the text was
    expect(page.get_by_test_id("redaction-state")).to_have_text("Redacted")
    # An attribute the script sets once the picture is drawn (a canvas is 300 wide before it; and CSP forbids
    # the string evaluation wait_for_function would poll with).
    expect(page.get_by_test_id("redact-canvas")).to_have_attribute("data-drawn", "1")
    shown = np.array(_canvas_box(page, x0, y0, x1, y1)).reshape(-1, 4)
    assert np.unique(shown[:, :3]).tolist() == [0]
    # And the database holds the box, and the stored rendering no longer holds the text pixels
    image.refresh_from_db()
    assert (image.redaction, image.redaction_boxes) == (Redaction.DONE, [[x0, y0, x1, y1]])
    after = stored_png(image.display)
    assert np.unique(after[y0:y1, x0:x1]).tolist() == [0]
    assert text_contrast(after, mask) == 0
    assert int(before[mask].min()) > 0
