"""Keyset pages by (value, id): every row once, in order, whatever the ties; bad cursors start at the top."""

import pytest

from frontend.paging import value_keyset_page
from nlp.models import LabelingRun, MinedLabel
from tests.factories import StudyFactory


@pytest.fixture
def labels(project):
    run = LabelingRun.objects.create(project=project, label_space="chexpert", labeler_version="t", complete=True)
    study = StudyFactory(patient__project=project)
    for i in range(23):
        MinedLabel.objects.create(run=run, study=study, label=f"L{i}", priority=[0.5, 0.2, 0.9][i % 3])
    return MinedLabel.objects.filter(run=run)


@pytest.mark.parametrize(("value_desc", "id_desc"), [(True, False), (False, False), (True, True)])
def test_pages_cover_every_row_once_in_order(labels, value_desc, id_desc):
    seen, after = [], ""
    while True:
        page, after = value_keyset_page(labels, "priority", after, value_desc=value_desc, id_desc=id_desc, size=5)
        seen.extend(page)
        if after is None:
            break
    expected = sorted(labels, key=lambda m: ((-1 if value_desc else 1) * m.priority, (-1 if id_desc else 1) * m.pk))
    assert [m.pk for m in seen] == [m.pk for m in expected]


def test_a_malformed_cursor_starts_at_the_top(labels):
    first, _ = value_keyset_page(labels, "priority", "", value_desc=True, id_desc=False, size=5)
    for cursor in ("x:y", "1:2:3", "0.5", "abc"):
        page, _ = value_keyset_page(labels, "priority", cursor, value_desc=True, id_desc=False, size=5)
        assert [m.pk for m in page] == [m.pk for m in first]
