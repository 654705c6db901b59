"""Django-free DICOM core: header indexing, pixel decoding and display rendering, de-identification, report scrubbing.

Ingest jobs call these functions; nothing here imports Django, so workers, commands and tests share them.
"""

from curation.dicomio.deid import (
    DeidOutcome,
    DeidProfile,
    date_offset_for,
    deidentify,
    phi_values,
    pseudonym_for,
    shift_date_value,
    uid_remapper,
)
from curation.dicomio.errors import DicomError
from curation.dicomio.header import DicomHeader, header_from_dataset, normalise_view, read_header
from curation.dicomio.render import (
    Rendering,
    decode_pixels,
    encode_png,
    make_thumbnail,
    modality_lut,
    render_16bit,
    render_all,
    render_display,
    render_image_file,
    voi_window,
)
from curation.dicomio.scrub import PLACEHOLDER, ScrubResult, scrub_report

__all__ = [
    "PLACEHOLDER",
    "DeidOutcome",
    "DeidProfile",
    "DicomError",
    "DicomHeader",
    "Rendering",
    "ScrubResult",
    "date_offset_for",
    "decode_pixels",
    "deidentify",
    "encode_png",
    "header_from_dataset",
    "make_thumbnail",
    "modality_lut",
    "normalise_view",
    "phi_values",
    "pseudonym_for",
    "read_header",
    "render_16bit",
    "render_all",
    "render_display",
    "render_image_file",
    "scrub_report",
    "shift_date_value",
    "uid_remapper",
    "voi_window",
]
