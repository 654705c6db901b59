"""Browser walk-through of mask review in real Chromium: a radiologist zooms and pans with keys, toggles an
organ, paints with the brush and erases, and saves a new reviewer version; a second radiologist, blinded to
that correction, rejects the same masks with a reason."""

import io
import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from playwright.sync_api import expect

from curation.models import Role
from curation.services.rendering import pack_rg16
from labeling.models import Mask, MaskSource, ReviewDecision, ReviewItem, ReviewState
from labeling.qc.rle import decode_chexmask_rle
from tests.factories import PASSWORD, ImageFactory, MembershipFactory, UserFactory
from tests.labeling.mask_review_helpers import SIZE, mask_item, organ_bitmaps

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RENDER = 128  # the rendering is twice the masks' grid: the viewer maps one onto the other


def _rendered_image(project):
    """An image with a 16-bit rendering (a gradient, packed as the ingest stores it) and an 8-bit one."""
    values = (np.add.outer(np.arange(RENDER), np.arange(RENDER)) * 64).astype(np.uint16)
    png16, png8 = io.BytesIO(), io.BytesIO()
    PILImage.fromarray(values).save(png16, format="PNG")
    PILImage.fromarray((values >> 8).astype(np.uint8)).save(png8, format="PNG")
    image = ImageFactory(study__patient__project=project, rows=RENDER, columns=RENDER)
    image.display16 = default_storage.save(f"test/{image.pk}/d16.png", ContentFile(pack_rg16(png16.getvalue())))
    image.display = default_storage.save(f"test/{image.pk}/d.png", ContentFile(png8.getvalue()))
    image.display_meta = {
        "window_center": 8000.0,
        "window_width": 16000.0,
        "invert": False,
        "rescale_slope": 1.0,
        "rescale_intercept": -1000.0,
        "window_source": "tags",
        "packing": "rg16",
    }
    image.save()
    return image


@pytest.fixture
def item(project, members):
    MembershipFactory(project=project, user=UserFactory(username="rad2"), role=Role.RADIOLOGIST)
    return mask_item(project, image=_rendered_image(project), required_reads=2)


def _log_in(page, base, username):
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/p/chest/review/masks/")


def _ready(page, item_id):
    expect(page.locator("[data-review]")).to_have_attribute("data-ready", str(item_id))


def _screen_point(page, mx, my):
    """Page coordinates of the centre of mask pixel (mx, my) in the viewer as it is now."""
    return page.evaluate(
        """([mx, my]) => { const p = CxrViewer.primary(); const layer = p.layers[0];
        const ix = (mx + 0.5) * p.w / layer.width, iy = (my + 0.5) * p.h / layer.height;
        const r = p.canvas.getBoundingClientRect();
        return [r.left + (p.view.tx + ix * p.view.scale) * r.width / p.canvas.width,
                r.top + (p.view.ty + iy * p.view.scale) * r.height / p.canvas.height]; }""",
        [mx, my],
    )


def test_a_radiologist_corrects_masks_and_another_rejects_them(page, live_server, members, item):
    base = live_server.url
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    # Given a radiologist who opens the mask queue
    _log_in(page, base, "radiologist")
    expect(page.get_by_role("heading", name="Mask review")).to_be_visible()
    _ready(page, item.pk)
    # Then the QC estimate, the flag and the reasons are shown, with the masks QC judged in the legend
    expect(page.get_by_test_id("qc-estimate")).to_contain_text("0.600")
    expect(page.get_by_test_id("qc-flags")).to_contain_text("right lung: a hole of 5% of the organ")
    expect(page.get_by_test_id("review-reasons")).to_contain_text("estimated Dice 0.60")
    for organ in ("heart", "left_lung", "right_lung"):
        expect(page.get_by_test_id(f"mask-toggle-{organ}")).to_be_checked()
    # And the window is in the image's own units (stored value + intercept -1000)
    expect(page.locator("[data-wl]")).to_have_text("W 16000 · L 7000")
    viewer = page.locator("[data-viewer]")
    # When they zoom in and pan with the keys
    fit = viewer.get_attribute("data-zoom")
    page.keyboard.press("+")
    page.keyboard.press("+")
    expect(viewer).not_to_have_attribute("data-zoom", fit)
    assert float(viewer.get_attribute("data-zoom")) == pytest.approx(float(fit) * 1.25 * 1.25, rel=1e-3)
    pan = viewer.get_attribute("data-pan")
    page.keyboard.press("l")
    page.keyboard.press("j")
    expect(viewer).not_to_have_attribute("data-pan", pan)
    # And back to fit
    page.keyboard.press("z")
    expect(viewer).to_have_attribute("data-zoom", fit)
    # When they hide the heart (the first organ in the legend) with its key, and show it again
    page.keyboard.press("v")
    expect(page.get_by_test_id("mask-toggle-heart")).not_to_be_checked()
    page.keyboard.press("v")
    expect(page.get_by_test_id("mask-toggle-heart")).to_be_checked()
    # When they pick the right lung (third in the legend), the brush, a smaller size, and paint a dot above it
    page.keyboard.press("3")
    expect(page.get_by_test_id("legend-right_lung")).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("b")
    for _ in range(4):
        page.keyboard.press("[")
    expect(page.get_by_test_id("brush-size")).to_have_text("5 px")
    x, y = _screen_point(page, 16, 4)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 2, y)
    page.mouse.up()
    # And erase a spot inside it
    page.keyboard.press("e")
    x, y = _screen_point(page, 15, 30)
    page.mouse.click(x, y)
    expect(page.locator("[data-review]")).to_have_attribute("data-edited", "true")
    expect(page.get_by_test_id("accept")).to_contain_text("Save correction")
    # And save with Enter
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    # Then the database holds a new reviewer version of the right lung only, with the changed pixels
    new = Mask.objects.get(image=item.image, organ="right_lung", version=2)
    assert (new.source, new.created_by.username, new.import_meta["review_item"]) == (
        MaskSource.REVIEWER,
        "radiologist",
        item.pk,
    )
    assert Mask.objects.filter(image=item.image, source=MaskSource.REVIEWER).count() == 1
    before = organ_bitmaps()["right_lung"]
    after = decode_chexmask_rle(new.rle, SIZE, SIZE)
    assert (bool(before[4, 16]), bool(after[4, 16])) == (False, True)
    assert (bool(before[30, 15]), bool(after[30, 15])) == (True, False)
    assert bool(after[40, 20]) is True  # far from both edits, unchanged
    decision = ReviewDecision.objects.get(item=item, reader__username="radiologist")
    assert decision.payload["verdict"] == "correct"
    assert decision.payload["masks"] == {"right_lung": new.pk}
    assert decision.seconds > 0
    page.get_by_role("button", name="Log out").click()

    # Given a second radiologist, who gets the same item with the masks QC judged (not the correction)
    _log_in(page, base, "rad2")
    _ready(page, item.pk)
    assert page.evaluate("() => CxrViewer.primary().layers.map((l) => l.id).sort()") == sorted(item.prefill["mask_ids"])
    # When they reject it, pick "swapped sides" (3) and confirm with Enter
    page.keyboard.press("x")
    page.keyboard.press("3")
    expect(page.locator("[data-review]")).to_have_attribute("data-reason", "swapped_sides")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    # Then the reject and its reason are stored, and the two reads disagree
    reject = ReviewDecision.objects.get(item=item, reader__username="rad2")
    assert (reject.payload["verdict"], reject.payload["reason"]) == ("reject", "swapped_sides")
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewState.ADJUDICATION
    # And no script failed and nothing was refused by the Content-Security-Policy on the way
    assert errors == []
