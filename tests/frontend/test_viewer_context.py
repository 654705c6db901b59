"""The study page's viewer panes: frontal before lateral, the patient's prior study beside them, mask layers."""

import datetime
import json

import pytest

from frontend.viewer_context import study_panes
from labeling.models import Mask, MaskSource
from tests.factories import ImageFactory, StudyFactory

pytestmark = pytest.mark.django_db


def test_panes_hang_frontal_then_lateral_with_the_prior_study_and_the_newest_masks(project, members, client):
    # Given a patient's earlier and current study, the current one with a lateral and a frontal image
    prior = StudyFactory(patient__project=project, study_date=datetime.date(2020, 1, 1))
    current = StudyFactory(patient=prior.patient, study_date=datetime.date(2021, 1, 1))
    StudyFactory(patient=prior.patient, study_date=datetime.date(2022, 1, 1))  # a later study is no prior
    lateral = ImageFactory(study=current, view_position="LAT", display="d.png")
    frontal = ImageFactory(study=current, view_position="PA", display="d.png")
    old = ImageFactory(study=prior, view_position="PA", display="d.png")
    for version, source in ((1, MaskSource.MODEL), (2, MaskSource.REVIEWER)):
        Mask.objects.create(
            project=project, image=frontal, organ="heart", source=source, rle="1 2", height=4, width=4, version=version
        )
    # When the panes are built
    panes = study_panes(project, current, [lateral, frontal])
    # Then the frontal hangs first, the lateral second, and the prior study's frontal beside them
    assert [p["image"].pk for p in panes["current"]] == [frontal.pk, lateral.pk]
    assert (panes["prior"]["study"].pk, [p["image"].pk for p in panes["prior"]["panes"]]) == (prior.pk, [old.pk])
    # And the frontal's layers are the newest heart only, served by the mask-layer endpoint
    newest = Mask.objects.get(image=frontal, version=2)
    layers = json.loads(panes["current"][0]["masks"])
    assert layers == [
        {
            "id": newest.pk,
            "organ": "heart",
            "url": f"/api/projects/chest/masks/{newest.pk}/layer.png",
            "label": "heart v2 (reviewer)",
        }
    ]
    # And the study page shows the panes
    client.force_login(members["viewer"])
    html = client.get(f"/p/chest/studies/{current.pk}/").content.decode()
    assert html.count('data-testid="viewer-pane"') == 2
    assert html.count('data-testid="viewer-prior"') == 1
