"""The file's own windows and VOI LUTs as viewer presets: read from the header (bounded, names cleaned and
kept only when they are window vocabulary), stored in display_meta at import in packed units, listed by the
study page's viewer context."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from curation.demo.dicom import write_dicom
from curation.dicomio.render import MAX_FILE_PRESETS, file_presets, preset_name
from curation.models import Image
from frontend.viewer_context import study_panes
from tests.curation.dicomio.conftest import META, ramp

UIDS = {"sop_instance_uid": "2.25.4444", "series_instance_uid": "2.25.5555"}


def _two_window_file(path, explanations=("LUNG", "MEDIASTINUM")):
    write_dicom(path, ramp(), meta=META, window=[(2048, 4096), (1000, 500)], **UIDS)
    ds = pydicom.dcmread(path)
    ds.WindowCenterWidthExplanation = list(explanations)
    ds.save_as(path)
    return path


@pytest.mark.parametrize(
    "text, expected",
    [
        ("LUNG", "LUNG"),
        ("  Soft\ttissue  2 ", "Soft tissue 2"),
        ("WINDOW1", "WINDOW1"),
        ("DOE^JANE", "File window 1"),  # a name: not window vocabulary
        ("LUNG 12345678 SMITH", "File window 1"),
        ("LUNG\x00\x07 2\n", "LUNG 2"),  # control characters go
        ("", "File window 1"),
        ("1234", "File window 1"),  # digits only say nothing
        ("lung " * 20, ("lung " * 8).strip()),  # truncated to 40 characters
    ],
)
def test_preset_names_are_window_vocabulary_or_generic(text, expected):
    assert preset_name(text, "File window 1") == expected


def test_every_window_pair_is_a_preset_named_by_its_explanation(tmp_path):
    # Given a file with two windows, the second explained by a patient's name
    ds = pydicom.dcmread(_two_window_file(tmp_path / "a.dcm", ("LUNG", "DOE^JANE")))
    # When its presets are read
    presets = file_presets(ds)
    # Then both windows are offered, in modality units, the second under a generic name
    assert presets == [
        {"name": "LUNG", "center": 2048.0, "width": 4096.0, "function": "LINEAR", "source": "tags"},
        {"name": "File window 2", "center": 1000.0, "width": 500.0, "function": "LINEAR", "source": "tags"},
    ]


def test_presets_are_bounded_and_skip_bad_pairs(tmp_path):
    # Given a header with twelve unexplained window pairs, the first with a zero width
    path = write_dicom(tmp_path / "b.dcm", ramp(), meta=META, window=[(100 + i, 50 + i) for i in range(12)], **UIDS)
    ds = pydicom.dcmread(path)
    widths = list(ds.WindowWidth)
    widths[0] = 0
    ds.WindowWidth = widths
    del ds.WindowCenterWidthExplanation
    # When its presets are read
    presets = file_presets(ds)
    # Then at most eight are offered, starting after the bad pair
    assert len(presets) == MAX_FILE_PRESETS
    assert [p["center"] for p in presets] == [101.0 + i for i in range(MAX_FILE_PRESETS)]
    assert presets[0]["name"] == "File window 1"


def test_a_voi_lut_is_a_preset_as_its_linear_window():
    # Given pydicom's sample with a VOI LUT Sequence and no window tags
    ds = pydicom.dcmread(get_testdata_file("vlut_04.dcm"))
    # When its presets are read
    presets = file_presets(ds)
    # Then the LUT is one preset, the linear window where its output rises from 1% to 99%
    assert [(p["source"], p["function"]) for p in presets] == [("voi_lut_sequence", "LUT")]
    table = pydicom.pixels.apply_voi(np.arange(ds.VOILUTSequence[0].LUTDescriptor[0]), ds).astype(float)
    first = int(ds.VOILUTSequence[0].LUTDescriptor[1])
    unit = (table - table.min()) / (table.max() - table.min())
    start, stop = first + int(np.argmax(unit >= 0.01)), first + int(np.argmax(unit >= 0.99))
    assert (presets[0]["center"], presets[0]["width"]) == (start + (stop - start) / 2, float(stop - start))


def test_a_file_with_two_windows_imports_with_two_presets_the_viewer_lists(db, tmp_path, project, import_from_cli):
    # Given a folder with one DICOM file holding two explained windows
    folder = tmp_path / "in"
    folder.mkdir()
    _two_window_file(folder / "a.dcm")
    # When it is imported and rendered
    summary = import_from_cli("chest", "dicom", str(folder))
    assert (summary["status"], summary["imported"]) == ("succeeded", 1)
    # Then its display_meta holds both windows in the packed units the viewer windows (12-bit ramp from 0:
    # packed value = modality value)
    image = Image.objects.get(study__patient__project=project)
    meta = image.display_meta
    assert meta["presets"] == [
        {"name": "LUNG", "center": 2048.0, "width": 4096.0, "function": "LINEAR", "source": "tags"},
        {"name": "MEDIASTINUM", "center": 1000.0, "width": 500.0, "function": "LINEAR", "source": "tags"},
    ]
    assert (meta["rescale_intercept"], meta["rescale_slope"], meta["voi_lut_rendered"]) == (0.0, 1.0, False)
    # And the study page's viewer context lists them for the pane
    panes = study_panes(project, image.study, [image])
    assert panes["current"][0]["presets"] == ["LUNG", "MEDIASTINUM"]


@pytest.fixture
def import_from_cli():
    from curation.services import ingest

    return ingest.import_from_cli
