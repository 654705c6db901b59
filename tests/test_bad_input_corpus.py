"""What hospitals and public datasets really send, through the real commands in child processes whose peak
memory is measured: huge DICOM headers, PNG decompression bombs, a NUL byte in a manifest, CheXmask rows of
200000² or without Height/Width, a 100000² COCO RLE and a 20000² label PNG. Each bad item is a per-item
error, every other item is imported, and no child goes past 1.5 GiB resident (a memory bound, not a timing).

The children run against their own SQLite file database (migrated first), in-process jobs, no broker.
"""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from labeling.qc.io import image_to_square, write_label_png
from labeling.qc.rle import encode_chexmask_rle
from tests.bad_inputs import claim_size, coco_rle_claim, huge_png, small_dicom

ROOT = Path(__file__).resolve().parent.parent
PEAK_LIMIT = int(1.5 * 2**30)
# Jobs started in a child process the way the CLI starts them: in-process, one after the other.
MASK_IMPORT = """
import json, sys
import django
django.setup()
from curation import dispatch
from curation.models import Project
from curation.services.jobs import start_job
from labeling.models import Mask

project = Project.objects.get(slug=sys.argv[1])
jobs = {}
for fmt, path in json.loads(sys.argv[2]).items():
    with dispatch.run_in_process():
        job = start_job(None, project, "qc.import_masks", {"format": fmt, "path": path})
    job.refresh_from_db()
    jobs[fmt] = {"status": job.status, "message": job.message, "counters": job.counters, "errors": job.errors}
masks = [
    [m.image.image_key, m.organ, m.height, m.width, m.import_meta]
    for m in Mask.objects.filter(project=project).select_related("image").order_by("image__image_key", "organ", "id")
]
print(json.dumps({"jobs": jobs, "masks": masks}))
"""


# Linux carries a process's peak resident size across exec, so a child forked (or vforked) straight from this
# test process, which holds a whole test session, would report this process's size as its own peak. A small
# launcher starts the command instead and reports that command's own peak (wait4: its rusage alone).
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss * 1024))  # Linux: kilobytes
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _run(args: list[str], env: dict, logs: Path, name: str) -> tuple[int, str, str, int]:
    """Run a child; return (exit code, stdout, stderr, peak resident bytes of that child alone)."""
    out, err, peak = logs / f"{name}.out", logs / f"{name}.err", logs / f"{name}.peak"
    with out.open("w") as stdout, err.open("w") as stderr:
        launcher = [sys.executable, "-c", LAUNCHER, str(peak), *args]
        proc = subprocess.run(launcher, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, check=False)
    return proc.returncode, out.read_text(), err.read_text(), int(peak.read_text())


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """Environment and runner for child processes on a migrated SQLite file database."""
    base = tmp_path_factory.mktemp("corpus")
    incoming = base / "incoming"
    incoming.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "tests-only",
        "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "JOBS_IN_PROCESS_THREAD": "0",
        "DJANGO_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "MEDIA_ROOT": str(base / "media"),
        "IMPORT_ALLOWED_ROOTS": str(incoming),
        "IMAGE_MAX_PIXELS": "100000000",
        "MASK_MAX_PIXELS": "50000000",
    }
    code, _, err, _ = _run([sys.executable, "manage.py", "migrate", "--noinput"], env, base, "migrate")
    assert code == 0, err

    def run(name: str, *args: str) -> tuple[int, str, str, int]:
        return _run([sys.executable, *args], env, base, name)

    run.incoming = incoming
    return run


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_dicom_folder_with_a_30000_squared_header(child):
    # Given a folder of three DICOM files, the middle one's header claiming 30000x30000 over tiny pixel data
    folder = child.incoming / "dicom"
    folder.mkdir()
    small_dicom(folder, "a.dcm", "2.25.10")
    claim_size(small_dicom(folder.parent, "source.dcm", "2.25.11"), folder / "b.dcm", 30000, 30000)
    small_dicom(folder, "c.dcm", "2.25.12")
    # When `import_studies --json` imports it in a child process
    code, out, err, peak = child(
        "dicom",
        "manage.py",
        "import_studies",
        "--project",
        "dicom",
        "--source",
        "dicom",
        "--path",
        str(folder),
        "--json",
    )
    # Then the oversized file is a per-file error and the others are imported and rendered
    assert code == 0, err
    summary = _last_json(out)
    assert (summary["status"], summary["imported"], summary["rendered"]) == ("succeeded", 2, 2)
    assert summary["errors"] == [
        {"file": "b.dcm", "reason": "image is 30000x30000 (900 megapixels), over the limit of 100 megapixels"}
    ]
    assert summary["render_errors"] == []
    assert peak < PEAK_LIMIT, f"peak resident memory {peak / 2**20:.0f} MiB"


NIH_HEADER = [
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


def _key(n: int) -> str:
    return f"{n:08d}_000.png"


def _lungs(size: int) -> dict:
    y, x = np.ogrid[:size, :size]
    s = size / 64
    right = ((y - 28 * s) / (18 * s)) ** 2 + ((x - 19 * s) / (9 * s)) ** 2 <= 1
    left = ((y - 28 * s) / (18 * s)) ** 2 + ((x - 45 * s) / (9 * s)) ** 2 <= 1
    heart = ((y - 42 * s) / (8 * s)) ** 2 + ((x - 33 * s) / (12 * s)) ** 2 <= 1
    return {"right_lung": right & ~heart, "left_lung": left & ~heart, "heart": heart}


def test_manifest_with_png_bombs_and_a_nul_byte_then_masks_with_huge_and_blank_sizes(child):
    # Given an NIH manifest of 8 rows, the second with a NUL byte in its labels: 3 ordinary 64² films,
    # a 20000² PNG bomb and four 12000² PNGs (which used to "succeed" at 3.1 GB resident together)
    nih = child.incoming / "nih"
    images = nih / "images_001" / "images"
    images.mkdir(parents=True)
    for n in (1, 2, 3):
        PILImage.new("L", (64, 64), 60 * n).save(images / _key(n))
    huge_png(images / _key(4), 20000, 20000)
    huge_png(images / _key(5), 12000, 12000)
    for n in (6, 7, 8):
        shutil.copy(images / _key(5), images / _key(n))
    rows = [
        [_key(n), "Effusion\x00|Mass" if n == 2 else "No Finding", 0, n, 40, "F", "PA", 64, 64, 0.1, 0.1]
        for n in range(1, 9)
    ]
    buf = io.StringIO()
    csv.writer(buf).writerows([NIH_HEADER, *rows])
    (nih / "Data_Entry_2017.csv").write_text(buf.getvalue())
    # When `import_studies --json` imports it in a child process
    code, out, err, peak = child(
        "nih", "manage.py", "import_studies", "--project", "public", "--source", "nih", "--path", str(nih), "--json"
    )
    # Then every row is imported, the three films render, and each bomb fails its own render only
    assert code == 0, err
    summary = _last_json(out)
    assert (summary["status"], summary["imported"], summary["errors"]) == ("succeeded", 8, [])
    assert summary["rendered"] == 3
    reasons = sorted((Path(e["file"]).name, e["reason"]) for e in summary["render_errors"])
    over = ", over the limit of 100 megapixels"
    assert reasons == [
        (_key(4), "image is 20000x20000 (400 megapixels)" + over),
        *[(_key(n), "image is 12000x12000 (144 megapixels)" + over) for n in (5, 6, 7, 8)],
    ]
    assert peak < PEAK_LIMIT, f"import: peak resident memory {peak / 2**20:.0f} MiB"

    # Given masks for those images: a CheXmask CSV with a 1024²-grid row without Height/Width for a rendered
    # film, a sized row, a row of 200000², a blank-size row for a film whose size is unknown (its render
    # failed), an id not in the project, and a blank-size row whose RLE runs past 1024²
    masks = child.incoming / "masks"
    chexmask = masks / "chexmask"
    chexmask.mkdir(parents=True)
    on_grid = {organ: encode_chexmask_rle(image_to_square(m)) for organ, m in _lungs(64).items()}
    sized = {organ: encode_chexmask_rle(m) for organ, m in _lungs(64).items()}
    header = ["Image Index", "Dice RCA (Mean)", "Dice RCA (Max)", "Right Lung", "Left Lung", "Heart", "Height", "Width"]
    organs = ("right_lung", "left_lung", "heart")
    chexmask_rows = [
        [_key(1), "0.9", "0.95", *(on_grid[o] for o in organs), "", ""],
        [_key(2), "0.8", "0.85", *(sized[o] for o in organs), 64, 64],
        [_key(3), "0.7", "0.75", "1 5", "1 5", "1 5", 200000, 200000],
        [_key(4), "0.6", "0.65", *(on_grid[o] for o in organs), "", ""],
        ["99999999_000.png", "0.6", "0.65", *(on_grid[o] for o in organs), "", ""],
        [_key(5), "0.6", "0.65", "1048570 10", "", "", "", ""],
    ]
    with (chexmask / "chexmask.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *chexmask_rows])
    # a COCO file with a 100000² RLE for one film and a polygon for another
    coco = masks / "coco"
    coco.mkdir()
    coco_data = {
        "images": [
            {"id": _key(2), "file_name": _key(2), "height": 64, "width": 64},
            {"id": _key(3), "file_name": _key(3), "height": 100000, "width": 100000},
        ],
        "categories": [{"id": 1, "name": "heart"}],
        "annotations": [
            {"id": 1, "image_id": _key(2), "category_id": 1, "segmentation": [[20, 36, 44, 36, 44, 50, 20, 50]]},
            {"id": 2, "image_id": _key(3), "category_id": 1, "segmentation": coco_rle_claim(100000, 100000)},
        ],
    }
    (coco / "masks.json").write_text(json.dumps(coco_data))
    # and label PNGs: a 20000² one and an ordinary one
    labels = masks / "labels"
    labels.mkdir()
    # label PNGs are named by the image key (NIH keys end in .png themselves)
    shutil.copy(images / _key(4), labels / f"{_key(1)}.png")
    write_label_png(_lungs(64), labels / f"{_key(3)}.png")
    paths = {"chexmask": str(chexmask), "coco": str(coco), "label_png": str(labels)}
    # When the three mask imports run as jobs in a child process
    code, out, err, peak = child("masks", "-c", MASK_IMPORT, "public", json.dumps(paths))
    assert code == 0, err
    result = _last_json(out)
    jobs = result["jobs"]
    # Then each job succeeds; the good items are imported and each bad one is its own error
    assert {fmt: job["status"] for fmt, job in jobs.items()} == dict.fromkeys(paths, "succeeded")
    assert jobs["chexmask"]["counters"] == {"imported": 3, "failed": 3}
    assert sorted((e["item"], e["reason"]) for e in jobs["chexmask"]["errors"]) == [
        (_key(3), "mask size 200000x200000 (40000 megapixels) is over the limit of 50 megapixels"),
        (_key(5), "Height/Width are blank and the RLE reaches pixel 1048579, past CheXmask's 1024x1024 grid"),
        ("99999999_000.png", "no image with this id in the project"),
    ]
    assert jobs["coco"]["counters"] == {"imported": 1, "failed": 1}
    assert jobs["coco"]["errors"] == [
        {"item": _key(3), "reason": "mask size 100000x100000 (10000 megapixels) is over the limit of 50 megapixels"}
    ]
    assert jobs["label_png"]["counters"] == {"imported": 1, "failed": 1}
    assert jobs["label_png"]["errors"] == [
        {
            "item": _key(1),
            "reason": "unreadable label PNG (mask size 20000x20000 (400 megapixels) is over the limit of "
            "50 megapixels)",
        }
    ]
    # And the blank-size rows are recorded as inferred: mapped onto the rendered film, kept on the 1024² grid
    # for the film whose size is unknown
    stored = {(key, organ): (h, w, meta) for key, organ, h, w, meta in result["masks"]}  # newest version wins
    assert stored[(_key(1), "heart")] == (64, 64, {"dice_rca_mean": 0.9, "dice_rca_max": 0.95, "size_inferred": True})
    assert stored[(_key(4), "heart")] == (
        1024,
        1024,
        {"dice_rca_mean": 0.6, "dice_rca_max": 0.65, "size_inferred": True},
    )
    assert stored[(_key(2), "heart")][:2] == (64, 64) and "size_inferred" not in stored[(_key(2), "heart")][2]
    assert peak < PEAK_LIMIT, f"mask import: peak resident memory {peak / 2**20:.0f} MiB"
