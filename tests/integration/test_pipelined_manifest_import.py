"""On PostgreSQL, manifest imports plan batch N+1 while a second connection commits batch N."""

import csv

import pytest
from django.db import connection

from curation.models import Image, Patient, Report, Study
from curation.services import ingest, ingest_writer

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the pipelined writer is PostgreSQL-only")
def test_pipelined_nih_import_writes_every_batch_once(tmp_path, monkeypatch):
    # Given an NIH manifest of 23 rows (one duplicated), imported 5 rows per batch
    root = tmp_path / "nih"
    images = root / "images_001" / "images"
    images.mkdir(parents=True)
    header = [
        "Image Index",
        "Finding Labels",
        "Follow-up #",
        "Patient ID",
        "Patient Age",
        "Patient Gender",
        "View Position",
        "OriginalImage[Width",
        "Height]",
        "OriginalImagePixelSpacing[x",
        "y]",
    ]
    rows = [
        [f"{p:08d}_{f:03d}.png", "Effusion" if f else "No Finding", f, p, 40 + f, "F", "PA", 10, 10, 0.1, 0.1]
        for p in range(1, 8)
        for f in range(3)
    ]
    rows.append(rows[4])
    rows.append(["00000009_000.png", "Mass", 0, 9, 50, "M", "AP", 10, 10, 0.1, 0.1])
    with (root / "Data_Entry_2017.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    for row in rows:
        (images / row[0]).write_bytes(b"\x89PNG")
    monkeypatch.setattr(ingest, "MANIFEST_BATCH", 5)
    used = []
    real_submit = ingest_writer.PipelinedWriter.submit
    monkeypatch.setattr(
        ingest_writer.PipelinedWriter, "submit", lambda self, b, **kw: used.append(len(b)) or real_submit(self, b, **kw)
    )
    # When it is imported twice
    first = ingest.import_from_cli("nihproj", "nih", str(root))
    second = ingest.import_from_cli("nihproj", "nih", str(root))
    # Then the pipelined writer did the work, every image is there once, and the re-run adds nothing
    assert sum(used) == 46 and len(used) == 10
    assert (first["status"], first["imported"], first["duplicates"]) == ("succeeded", 22, 1)
    assert (second["imported"], second["duplicates"]) == (0, 23)
    assert (Image.objects.count(), Study.objects.count(), Patient.objects.count(), Report.objects.count()) == (
        22,
        22,
        8,
        22,
    )
    assert Report.objects.get(study__study_key="00000001_001").source_labels["Effusion"] == 1
