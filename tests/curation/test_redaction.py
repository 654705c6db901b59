"""Burned-in text redaction (curation.services.redaction): the import flags images, curators burn boxes into
the stored DICOM or picture and its renderings, the unredacted files are gone, exports skip what waits."""

import io
import json

import numpy as np
import pydicom
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from curation.demo import generate_dataset
from curation.dicomio import DicomError
from curation.models import AuditEvent, Image, RenderStatus
from curation.models.studies import Redaction
from curation.services import ingest, redaction
from tests.curation.redaction_helpers import (
    bounding_box,
    display_sense,
    stored_dicom,
    stored_png,
    text_contrast,
    text_masks,
)
from tests.factories import ImageFactory

RENDERINGS = ("display", "display16", "thumbnail")


@pytest.fixture
def imported(project, members, tmp_path, settings):
    """A generated DICOM dataset imported and rendered into `chest`; its truth (what the generator wrote)."""
    settings.JOBS_IN_PROCESS_THREAD = False
    source = tmp_path / "generated"
    generate_dataset(source, n_patients=2, seed=5, image_size=128)
    truth = json.loads((source / "truth.json").read_text())
    (source / "truth.json").unlink()
    ingest.import_from_cli("chest", "dicom", str(source))
    return truth


@pytest.fixture
def burned(imported):
    """One imported image with burned-in text, and the mask of its text pixels."""
    masks = text_masks(imported)
    image = Image.objects.filter(redaction=Redaction.NEEDED).order_by("pk").first()
    return image, masks[image.image_key]


def _files_of(image: Image) -> dict[str, bytes]:
    names = [image.original, *(getattr(image, which) for which in RENDERINGS)]
    return {name: default_storage.open(name, "rb").read() for name in names}


def _all_files(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_the_import_flags_exactly_the_images_whose_header_declares_burned_in_text(imported, project):
    # Given the generator's burned-in images
    expected = sum(1 for s in imported["studies"].values() for i in s["images"] if i["burned_in_annotation"])
    assert expected >= 1
    # Then the import marked exactly those as needing redaction
    needed = set(Image.objects.filter(redaction=Redaction.NEEDED).values_list("pk", flat=True))
    assert needed == set(Image.objects.filter(burned_in_annotation=True).values_list("pk", flat=True))
    assert len(needed) == expected
    # And exports leave them out
    exportable = set(redaction.exportable_images(project).values_list("pk", flat=True))
    assert exportable == set(Image.objects.values_list("pk", flat=True)) - needed


def test_redaction_burns_the_box_into_the_stored_dicom_and_every_rendering(burned, project, members):
    # Given a burned-in image whose stored DICOM and renderings show the text
    image, mask = burned
    before = display_sense(stored_dicom(image.original))
    assert text_contrast(before, mask) > 0
    for which in RENDERINGS:
        assert text_contrast(stored_png(getattr(image, which)), mask) > 0, which
    box = bounding_box(mask)
    x0, y0, x1, y1 = box
    # When a curator burns a box over the text in
    redaction.redact(members["curator"], project, image.pk, [box])
    # Then the stored DICOM holds one value (black on screen) in the box, and the rest of the image as it was
    image.refresh_from_db()
    ds = stored_dicom(image.original)
    stored = ds.pixel_array
    assert np.unique(stored[y0:y1, x0:x1]).tolist() == [
        stored.max() if ds.PhotometricInterpretation == "MONOCHROME1" else stored.min()
    ]
    after = display_sense(ds)
    outside = np.ones(mask.shape, dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(after[outside], before[outside])
    # And the file is uncompressed, still de-identified, with its UID, and says its pixels were cleaned
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.SOPInstanceUID, ds.PatientIdentityRemoved, ds.BurnedInAnnotation) == (image.image_key, "YES", "NO")
    assert "113101" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert "burned-in text redacted" in list(ds.DeidentificationMethod)
    # And every rendering shows black in the box: nothing of the text is left
    for which in ("display", "thumbnail"):
        assert np.unique(stored_png(getattr(image, which))[y0:y1, x0:x1]).tolist() == [0], which
    assert len(np.unique(stored_png(image.display16)[y0:y1, x0:x1])) == 1
    # And the row and the audit trail say who redacted what
    assert (image.redaction, image.redaction_boxes, image.redacted_by) == (Redaction.DONE, [box], members["curator"])
    assert image.render_status == RenderStatus.DONE
    event = AuditEvent.objects.get(action="image.redacted", object_id=str(image.pk))
    assert (event.before, event.after["boxes"], event.actor) == ({"redaction": "needed"}, [box], members["curator"])
    # And exports may now take it
    assert redaction.exportable_images(project).filter(pk=image.pk).exists()


def test_redaction_leaves_no_unredacted_file_in_storage(burned, project, members, settings):
    # Given a burned-in image with a QC overlay drawn from its rendering
    from labeling.models import QcResult

    image, mask = burned
    overlay = default_storage.save(f"projects/chest/qc/overlays/{image.pk}-1.png", ContentFile(b"\x89PNG overlay"))
    result = QcResult.objects.create(
        project=project, image=image, estimated_dice=0.9, decision="accept", method="t", version="1", overlay=overlay
    )
    old = _files_of(image)
    files_before = _all_files(settings.MEDIA_ROOT)
    # When a curator redacts it
    redaction.redact(members["curator"], project, image.pk, [bounding_box(mask)])
    # Then its files keep their names with new content, and no other file holds the old pixels
    image.refresh_from_db()
    new = _files_of(image)
    assert set(new) == set(old)
    assert all(new[name] != old[name] for name in old)
    assert _all_files(settings.MEDIA_ROOT) == files_before - {overlay}
    # And the overlay drawn from the unredacted rendering is deleted
    result.refresh_from_db()
    assert result.overlay == ""
    assert not default_storage.exists(overlay)


BAD_BOXES = [
    ("no box", []),
    ("not a list", "0,0,10,10"),
    ("three numbers", [[0, 0, 10]]),
    ("fractions", [[0.5, 0, 10, 10]]),
    ("booleans", [[True, 0, 10, 10]]),
    ("strings", [["0", "0", "10", "10"]]),
    ("no width", [[5, 0, 5, 10]]),
    ("outside the image", [[500, 500, 600, 600]]),
    ("too many", [[0, 0, 1, 1]] * 51),
]


@pytest.mark.parametrize(("what", "boxes"), BAD_BOXES, ids=[b[0] for b in BAD_BOXES])
def test_bad_boxes_are_refused_with_400_and_change_nothing(what, boxes, burned, members, api):
    # Given a burned-in image
    image, _ = burned
    old = _files_of(image)
    # When a curator posts boxes that cannot be burned in
    url = f"/api/projects/chest/images/{image.pk}/redact/"
    response = api(members["curator"]).post(url, {"boxes": boxes}, format="json")
    # Then they are refused and nothing changed
    assert response.status_code == 400, response.content
    image.refresh_from_db()
    assert image.redaction == Redaction.NEEDED
    assert _files_of(image) == old
    assert not AuditEvent.objects.filter(action="image.redacted").exists()


def test_boxes_are_put_in_order_and_clipped_to_the_image(burned, members, api):
    # Given a burned-in image of 128 columns
    image, _ = burned
    # When a box is drawn from bottom right to top left, beyond the image's edges
    url = f"/api/projects/chest/images/{image.pk}/redact/"
    response = api(members["admin"]).post(url, {"boxes": [[200, 40, -5, -3]]}, format="json")
    # Then the stored box is inside the image, corners in order
    assert response.status_code == 200, response.content
    assert response.json()["redaction_boxes"] == [[0, 0, image.columns, 40]]


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("radiologist", 403), ("outsider", 404)])
def test_only_curators_and_admins_redact(role, status, burned, members, api):
    image, mask = burned
    old = _files_of(image)
    url = f"/api/projects/chest/images/{image.pk}/redact/"
    response = api(members[role]).post(url, {"boxes": [bounding_box(mask)]}, format="json")
    assert response.status_code == status
    assert _files_of(image) == old


def test_a_radiologist_flags_an_image_and_it_leaves_the_exports(imported, project, members, api):
    # Given an image without burned-in text in its header
    image = Image.objects.filter(redaction=Redaction.NONE).order_by("pk").first()
    assert redaction.exportable_images(project).filter(pk=image.pk).exists()
    # When a radiologist flags it (twice), and a viewer tries to
    url = f"/api/projects/chest/images/{image.pk}/flag-burned-in/"
    assert api(members["viewer"]).post(url).status_code == 403
    assert api(members["radiologist"]).post(url).json()["redaction"] == "needed"
    assert api(members["radiologist"]).post(url).status_code == 200
    # Then it waits for redaction, out of the exports, flagged once in the audit trail
    image.refresh_from_db()
    assert (image.redaction, image.redaction_flagged_by) == (Redaction.NEEDED, members["radiologist"])
    assert not redaction.exportable_images(project).filter(pk=image.pk).exists()
    assert redaction.images_needing_redaction(project).filter(pk=image.pk).exists()
    assert AuditEvent.objects.filter(action="image.flagged_burned_in", object_id=str(image.pk)).count() == 1


def test_flagging_a_redacted_image_sends_it_back_to_the_curators(burned, project, members):
    image, mask = burned
    redaction.redact(members["curator"], project, image.pk, [bounding_box(mask)])
    redaction.flag_burned_in(members["radiologist"], project, image.pk)
    image.refresh_from_db()
    assert image.redaction == Redaction.NEEDED
    assert not redaction.exportable_images(project).filter(pk=image.pk).exists()


def test_an_image_without_stored_pixels_cannot_be_redacted(project, members, api):
    image = ImageFactory(study__patient__project=project, rows=64, columns=64, render_status=RenderStatus.PENDING)
    url = f"/api/projects/chest/images/{image.pk}/redact/"
    response = api(members["curator"]).post(url, {"boxes": [[0, 0, 8, 8]]}, format="json")
    assert response.status_code == 409


def test_when_rendering_the_redacted_file_fails_no_old_rendering_is_left(burned, project, members, monkeypatch):
    # Given a burned-in image, and a renderer that fails
    image, mask = burned
    old = {which: getattr(image, which) for which in RENDERINGS}

    def fail(project, image):
        raise DicomError("decoder crashed")

    monkeypatch.setattr(redaction, "render_one", fail)
    # When it is redacted
    redaction.redact(members["curator"], project, image.pk, [bounding_box(mask)])
    # Then the stored file is redacted, and the renderings that showed the text are gone
    image.refresh_from_db()
    assert (image.redaction, image.render_status) == (Redaction.DONE, RenderStatus.FAILED)
    assert image.render_error == "after redaction: decoder crashed"
    assert [getattr(image, which) for which in RENDERINGS] == ["", "", ""]
    assert not any(default_storage.exists(name) for name in old.values())
    assert text_contrast(display_sense(stored_dicom(image.original)), mask) == 0


def _picture(fmt: str) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(1)
    pixels = rng.integers(60, 200, size=(96, 80), dtype=np.uint8)
    pixels[10:20, 10:50] = 255  # the "text"
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue(), pixels


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg")])
def test_a_picture_original_is_redacted_in_its_own_format(fmt, suffix, project, members):
    # Given a rendered PNG or JPEG image (a manifest dataset's original)
    data, pixels = _picture(fmt)
    name = default_storage.save(f"projects/chest/originals/csv/abc{suffix}", ContentFile(data))
    image = ImageFactory(
        study__patient__project=project, original=name, rows=96, columns=80, render_status=RenderStatus.DONE
    )
    # When a curator redacts the text
    redaction.redact(members["curator"], project, image.pk, [[8, 8, 56, 24]])
    # Then the stored original keeps its name and format, and is black in the box (JPEG: within its noise,
    # inside the 8x8 blocks wholly in the box)
    image.refresh_from_db()
    assert image.original == name
    stored = PILImage.open(default_storage.open(name, "rb"))
    assert stored.format == fmt
    values = np.asarray(stored)
    if fmt == "PNG":
        assert np.unique(values[8:24, 8:56]).tolist() == [0]
        assert np.array_equal(values[30:], pixels[30:])
    else:
        assert int(values[8:24, 8:56].max()) <= 4
    # And the renderings were made from it
    assert image.render_status == RenderStatus.DONE
    assert int(stored_png(image.display)[10:20, 10:50].max()) <= 4


def test_exportable_images_take_redacted_and_unflagged_images_only(project):
    study = ImageFactory(study__patient__project=project).study
    states = {
        "plain": {},
        "header says no": {"burned_in_annotation": False},
        "needed": {"redaction": Redaction.NEEDED, "burned_in_annotation": True},
        "flagged": {"redaction": Redaction.NEEDED},
        "redacted": {"redaction": Redaction.DONE, "burned_in_annotation": True},
        # A row written without its state (before migration 0011, or a path that forgot it)
        "header says yes, no state": {"burned_in_annotation": True},
    }
    ids = {name: ImageFactory(study=study, **fields).pk for name, fields in states.items()}
    exportable = set(redaction.exportable_images(project).values_list("pk", flat=True))
    assert {name for name, pk in ids.items() if pk in exportable} == {"plain", "header says no", "redacted"}


def test_the_redaction_form_burns_the_boxes_in_and_refuses_bad_input(burned, members, client):
    # Given a curator on a burned-in image's redaction page
    image, mask = burned
    client.force_login(members["curator"])
    url = f"/p/chest/images/{image.pk}/redact/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'data-testid="redact-canvas"' in page.content
    # When the form posts something that is not a box list, then a box outside the image
    assert client.post(url, {"boxes": "not json"}).status_code == 400
    refused = client.post(url, {"boxes": "[[500, 500, 600, 600]]"})
    assert refused.status_code == 400
    assert "covers no pixel" in refused.content.decode()
    # And then a box over the text
    response = client.post(url, {"boxes": json.dumps([bounding_box(mask)])})
    # Then it is burned in, and the page comes back
    assert (response.status_code, response["Location"]) == (302, url)
    image.refresh_from_db()
    assert image.redaction_boxes == [bounding_box(mask)]


def test_the_curators_list_shows_the_images_waiting_for_redaction(imported, members, client):
    client.force_login(members["curator"])
    response = client.get("/p/chest/images/redaction/")
    waiting = Image.objects.filter(redaction=Redaction.NEEDED)
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="redaction-row"') == waiting.count()
    assert f"{waiting.count()} waiting" in response.content.decode()


def test_a_browser_that_cached_a_rendering_is_told_it_changed_after_redaction(burned, project, members, client):
    image, mask = burned
    client.force_login(members["viewer"])
    url = f"/api/projects/{project.slug}/images/{image.pk}/display/"
    first = client.get(url)
    assert first.status_code == 200 and first["Cache-Control"] == "private, no-cache"
    etag = first["ETag"]
    # Unchanged: the browser's copy is still good
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    # After the redaction (same storage name) the cached copy is stale: the new pixels are sent
    redaction.redact(members["curator"], project, image.pk, [bounding_box(mask)])
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200 and again["ETag"] != etag


@pytest.mark.parametrize(("role", "links"), [("viewer", False), ("radiologist", True), ("curator", True)])
def test_study_and_dashboard_links_follow_the_redaction_rules(role, links, burned, project, members, client):
    image, _ = burned
    client.force_login(members[role])
    study_page = client.get(f"/p/{project.slug}/studies/{image.study_id}/").content.decode()
    assert (f"/p/{project.slug}/images/{image.pk}/redact/" in study_page) is links
    assert "burned-in text" in study_page  # everyone sees that the image holds text
    dashboard = client.get(f"/p/{project.slug}/").content.decode()
    assert ('data-testid="redaction-link"' in dashboard) is (role == "curator")
