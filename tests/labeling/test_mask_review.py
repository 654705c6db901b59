"""Mask review services: corrections become new reviewer mask versions with the right pixels and record the
read; bad RLE, oversize and unknown organs are refused; rejects need a reason; the layer PNG; permissions."""

import io

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from PIL import Image as PILImage

from curation.errors import Conflict
from labeling.models import Mask, MaskSource, MaskTruth, ReviewDecision, ReviewState
from labeling.qc.rle import decode_chexmask_rle, encode_chexmask_rle, encode_coco_rle
from labeling.review import masks, queue, services
from tests.labeling.mask_review_helpers import SIZE, mask_item, organ_bitmaps

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(project, members):
    """A mask item the radiologist holds."""
    item = mask_item(project)
    assert queue.next_item(members["radiologist"], project, "mask").item.pk == item.pk
    return item


def _corrected_right_lung() -> np.ndarray:
    lung = organ_bitmaps()["right_lung"].copy()
    lung[20:30, 10:20] = False  # a hole the reviewer cut
    lung[50:56, 6:26] = True  # and the base the machine missed
    return lung


def test_a_correction_is_a_new_reviewer_version_with_the_drawn_pixels(project, members, held):
    # Given the machine's right lung (version 1) and a reviewer's corrected one
    reader = members["radiologist"]
    machine = Mask.objects.get(image=held.image, organ="right_lung")
    corrected = _corrected_right_lung()
    # When the reader saves the correction, 42.5 seconds after opening the item
    new = masks.save_correction(reader, project, held.pk, {"right_lung": encode_chexmask_rle(corrected)}, 42.5)
    # Then one new mask exists: version 2, source reviewer, by the reader, pointing at what it replaces
    assert len(new) == 1
    mask = Mask.objects.get(pk=new[0].pk)
    assert (mask.organ, mask.version, mask.source, mask.created_by, mask.height, mask.width) == (
        "right_lung",
        2,
        MaskSource.REVIEWER,
        reader,
        SIZE,
        SIZE,
    )
    assert mask.import_meta == {"seconds": 42.5, "review_item": held.pk, "replaces": machine.pk}
    # And it holds exactly the drawn pixels, while version 1 is unchanged
    assert np.array_equal(decode_chexmask_rle(mask.rle, SIZE, SIZE), corrected)
    machine.refresh_from_db()
    assert np.array_equal(decode_chexmask_rle(machine.rle, SIZE, SIZE), organ_bitmaps()["right_lung"])
    # And the read is recorded as a correction naming the new mask, which decides the single-read item
    decision = ReviewDecision.objects.get(item=held, reader=reader)
    assert decision.payload == {"verdict": "correct", "masks": {"right_lung": mask.pk}, "comment": ""}
    assert decision.seconds == 42.5
    held.refresh_from_db()
    assert held.state == ReviewState.DECIDED
    # And the machine mask's true Dice against the correction is stored for the calibration
    truth = MaskTruth.objects.get(reviewer_mask=mask)
    a, b = organ_bitmaps()["right_lung"], corrected
    assert truth.true_dice == pytest.approx(2 * (a & b).sum() / (a.sum() + b.sum()), abs=1e-6)


def test_a_second_correction_of_an_organ_takes_the_next_version(project, members, held):
    # Given a reviewer version 2 of the heart, amended by the same reader before adjudication
    reader = members["radiologist"]
    heart = organ_bitmaps()["heart"]
    masks.save_correction(reader, project, held.pk, {"heart": encode_chexmask_rle(heart[::-1])})
    # When they correct it again (COCO RLE this time)
    again = masks.save_correction(reader, project, held.pk, {"heart": encode_coco_rle(heart)})
    # Then it is version 3, and the newest read names it
    assert again[0].version == 3
    assert ReviewDecision.objects.filter(item=held).order_by("-id").first().payload["masks"] == {"heart": again[0].pk}


def test_a_missing_organ_is_drawn_on_the_grid_of_the_other_masks(project, members, held):
    # Given an image without clavicle masks, and a reader who draws the right clavicle
    clavicle = np.zeros((SIZE, SIZE), dtype=bool)
    clavicle[4:8, 8:30] = True
    # When they save it
    new = masks.save_correction(members["radiologist"], project, held.pk, {"right_clavicle": clavicle})
    # Then it is version 1 of that organ, replacing nothing
    assert (new[0].version, new[0].import_meta["replaces"], new[0].height, new[0].width) == (1, None, SIZE, SIZE)
    assert np.array_equal(decode_chexmask_rle(new[0].rle, SIZE, SIZE), clavicle)


@pytest.mark.parametrize(
    ("organs", "message"),
    [
        ({"right_lung": "1 5 3"}, "right_lung: RLE has an odd number of values"),
        ({"right_lung": "5 10 2 3"}, "right_lung: RLE starts are not increasing"),
        ({"right_lung": f"{SIZE * SIZE} 10"}, "overflows a 64x64 mask"),
        ({"right_lung": "1 x"}, "is not an integer"),
        ({"right_lung": {"size": [32, 32], "counts": [1024]}}, "the mask must be 64x64"),
        ({"spleen": "1 1"}, "Not an organ: spleen."),
        ({}, "Give at least one corrected organ"),
        ({"heart": 7}, "give CheXmask RLE text, COCO RLE or a bitmap"),
    ],
)
def test_a_bad_correction_is_refused_and_nothing_is_saved(project, members, held, organs, message):
    # Given a held item with three machine masks
    before = Mask.objects.count()
    # When a correction with a bad mask is saved
    with pytest.raises(ValidationError) as caught:
        masks.save_correction(members["radiologist"], project, held.pk, organs)
    # Then it is refused with a reason naming the problem, and no mask or read is stored
    assert message in " ".join(caught.value.messages)
    assert Mask.objects.count() == before
    assert not ReviewDecision.objects.filter(item=held).exists()


def test_a_mask_over_the_pixel_limit_is_refused_before_decoding(project, members, held, settings):
    # Given a pixel limit below the image's 64x64 mask grid
    settings.MASK_MAX_PIXELS = SIZE * SIZE - 1
    # When a correction is saved
    with pytest.raises(ValidationError) as caught:
        masks.save_correction(members["radiologist"], project, held.pk, {"heart": "1 4"})
    # Then the size is refused
    assert "over the limit" in " ".join(caught.value.messages)
    assert Mask.objects.filter(source=MaskSource.REVIEWER).count() == 0


def test_a_reject_needs_a_reason_from_the_list(project, members, held):
    reader = members["radiologist"]
    # When the reader rejects without a reason, or with one not on the list
    for payload in ({"verdict": "reject"}, {"verdict": "reject", "reason": "ugly"}):
        with pytest.raises(ValidationError) as caught:
            services.decide(reader, project, held.pk, payload, 3)
        assert "Say why: one of wrong_organ, missing_organ, swapped_sides" in " ".join(caught.value.messages)
    # And "other" without a comment
    with pytest.raises(ValidationError):
        services.decide(reader, project, held.pk, {"verdict": "reject", "reason": "other"}, 3)
    # Then with a listed reason the reject is stored as given
    decision = services.decide(reader, project, held.pk, {"verdict": "reject", "reason": "swapped_sides"}, 3)
    assert decision.payload == {"verdict": "reject", "reason": "swapped_sides", "comment": ""}


def test_a_correct_verdict_must_name_reviewer_masks_of_the_item(project, members, held):
    # Given the machine's own mask ids (not a reviewer's)
    machine = Mask.objects.get(image=held.image, organ="heart")
    # When a reader claims a correction through the plain decide call
    with pytest.raises(ValidationError) as caught:
        services.decide(
            members["radiologist"], project, held.pk, {"verdict": "correct", "masks": {"heart": machine.pk}}
        )
    # Then it is refused
    assert "These are not reviewer masks of this item's image." in caught.value.messages


def test_only_readers_holding_the_item_may_correct(project, members, held):
    rle = encode_chexmask_rle(organ_bitmaps()["heart"])
    # A viewer may not read in review queues
    with pytest.raises(PermissionDenied):
        masks.save_correction(members["viewer"], project, held.pk, {"heart": rle})
    # A curator who holds no claim on the item is refused
    with pytest.raises(Conflict):
        masks.save_correction(members["curator"], project, held.pk, {"heart": rle})
    # An outsider does not learn the project exists
    from django.http import Http404

    with pytest.raises(Http404):
        masks.save_correction(members["outsider"], project, held.pk, {"heart": rle})
    assert Mask.objects.filter(source=MaskSource.REVIEWER).count() == 0


def test_the_layer_png_is_the_mask_at_its_own_size(project, held):
    # Given the machine's left lung
    mask = Mask.objects.get(image=held.image, organ="left_lung")
    # When it is rendered as a layer
    png = PILImage.open(io.BytesIO(masks.mask_layer_png(mask)))
    # Then it is a 1-bit image whose white pixels are the organ
    assert (png.mode, png.size) == ("1", (SIZE, SIZE))
    assert np.array_equal(np.asarray(png, dtype=bool), organ_bitmaps()["left_lung"])


def test_the_correction_endpoint_saves_and_answers_with_the_new_masks(project, members, held, api):
    # Given the radiologist's API client
    client = api(members["radiologist"])
    corrected = _corrected_right_lung()
    # When they post the corrected right lung
    response = client.post(
        f"/api/projects/chest/review/items/{held.pk}/correct/",
        {"organs": {"right_lung": encode_chexmask_rle(corrected)}, "seconds": 12, "comment": "base"},
        format="json",
    )
    # Then the new version is answered and stored
    assert response.status_code == 201
    new = Mask.objects.get(image=held.image, organ="right_lung", version=2)
    assert response.json() == {"id": held.pk, "masks": {"right_lung": {"id": new.pk, "version": 2}}}
    assert ReviewDecision.objects.get(item=held).payload["comment"] == "base"
    # And a bad RLE is a 400 that names the organ
    again = client.post(
        f"/api/projects/chest/review/items/{held.pk}/correct/", {"organs": {"heart": "3 1 1 1"}}, format="json"
    )
    assert again.status_code == 400
    assert "heart: RLE starts are not increasing" in str(again.json())


def test_the_layer_endpoint_serves_the_png(project, members, held, api):
    mask = Mask.objects.get(image=held.image, organ="heart")
    response = api(members["viewer"]).get(f"/api/projects/chest/masks/{mask.pk}/layer.png")
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
    png = PILImage.open(io.BytesIO(response.content))
    assert np.array_equal(np.asarray(png, dtype=bool), organ_bitmaps()["heart"])


def test_a_curator_makes_one_readers_correction_final_in_adjudication(project, members):
    # Given a double-read mask item: the radiologist corrected the heart, a curator rejected it
    from django.test import Client

    item = mask_item(project, required_reads=2)
    rad, curator = members["radiologist"], members["curator"]
    queue.next_item(rad, project, "mask")
    new = masks.save_correction(rad, project, item.pk, {"heart": encode_chexmask_rle(organ_bitmaps()["heart"].T)})
    queue.next_item(curator, project, "mask")
    services.decide(curator, project, item.pk, {"verdict": "reject", "reason": "wrong_organ"})
    item.refresh_from_db()
    assert item.state == ReviewState.ADJUDICATION
    client = Client()
    client.force_login(members["admin"])
    # When the admin opens it, the reads show each verdict, the reason and whose masks
    page = client.get(f"/p/chest/review/items/{item.pk}/adjudicate/").content.decode()
    assert 'data-question="reason"' in page and "wrong_organ" in page
    # And makes the radiologist's correction final
    response = client.post(
        f"/p/chest/review/items/{item.pk}/adjudicate/", {"q:verdict": "correct", "q:masks of": "radiologist"}
    )
    # Then the final answer names the radiologist's new heart
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.state, item.final) == (ReviewState.FINAL, {"verdict": "correct", "masks": {"heart": new[0].pk}})


def test_the_grow_bank_button_shows_on_the_mask_screen_to_those_who_may_build_banks(project, members, client):
    from labeling.models import ReferenceBankFile

    def shown(role):
        client.force_login(members[role])
        return 'data-testid="grow-bank"' in client.get(f"/p/{project.slug}/review/masks/").content.decode()

    assert not shown("curator")  # no bank yet: nothing to grow
    ReferenceBankFile.objects.create(project=project, storage_name="banks/b.npz", references=3)
    assert shown("curator") and shown("admin")
    assert not shown("radiologist")


def test_the_bank_grows_with_corrected_and_agreed_accepted_masks_only(project, members, monkeypatch):
    from labeling import services as qc_services
    from labeling.models import ReferenceBankFile

    ReferenceBankFile.objects.create(project=project, storage_name="banks/b.npz", references=3)
    accepted, rejected, pending, corrected = (mask_item(project) for _ in range(4))
    accepted.state, accepted.final = ReviewState.FINAL, {"verdict": "accept"}
    rejected.state, rejected.final = ReviewState.DECIDED, {"verdict": "reject", "reason": "wrong_organ"}
    for item in (accepted, rejected):
        item.save()
    Mask.objects.create(
        project=project,
        image=corrected.image,
        organ="heart",
        source="reviewer",
        rle=encode_chexmask_rle(organ_bitmaps()["heart"]),
        height=SIZE,
        width=SIZE,
        version=2,
    )
    grown = {}
    monkeypatch.setattr(qc_services, "load_project_bank", lambda bank_file: [])
    monkeypatch.setattr(
        "labeling.qc.bank.add_to_bank", lambda bank, samples, **kw: (grown.update(dict(samples)) or bank, [])
    )
    monkeypatch.setattr(qc_services, "store_bank", lambda project, bank, **kw: None)
    qc_services.grow_bank_from_reviewed(project, members["curator"])
    assert set(grown) == {f"image-{accepted.image_id}", f"image-{corrected.image_id}"}
    assert set(grown[f"image-{corrected.image_id}"]) == {"right_lung", "left_lung", "heart"}
    del pending  # waiting in the queue: not reviewed, so not in the bank
