"""The command-line contracts other tools rely on, run as real processes with their exact flags.

label_reports, evaluate_labels, build_reference_bank and qc_masks need no database: they run here
with a DATABASE_URL that points nowhere, so any database access would fail them.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curation.demo import generate_dataset

ROOT = Path(__file__).resolve().parent.parent
CHEXPERT = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
]
NO_DATABASE = {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing", "CELERY_BROKER_URL": ""}


def _manage(*args, env=None, cwd=ROOT):
    full_env = {**os.environ, "DJANGO_SECRET_KEY": "tests-only", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_label_reports_and_evaluate_labels_without_a_database(tmp_path):
    reports = tmp_path / "reports.csv"
    with reports.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["uid", "findings", "impression"])
        writer.writerow(["r1", "Large right pleural effusion. No pneumothorax.", "Effusion."])
        writer.writerow(["r2", "The lungs are clear. Heart size is normal.", "No acute disease."])
        writer.writerow(["r3", "", ""])
    out, evidence = tmp_path / "labels.csv", tmp_path / "evidence.jsonl"
    result = _manage(
        "label_reports",
        "--input",
        str(reports),
        "--output",
        str(out),
        "--id-column",
        "uid",
        "--text-columns",
        "findings,impression",
        "--labels",
        "chexpert",
        "--jsonl",
        str(evidence),
        env=NO_DATABASE,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["uid", *CHEXPERT]
    by_id = {row[0]: dict(zip(CHEXPERT, row[1:], strict=True)) for row in rows[1:]}
    assert (by_id["r1"]["Pleural Effusion"], by_id["r1"]["Pneumothorax"], by_id["r1"]["No Finding"]) == ("1", "0", "")
    assert by_id["r2"]["No Finding"] == "1"
    assert set(by_id["r3"].values()) == {""}
    assert len(evidence.read_text().splitlines()) == 3
    gold = tmp_path / "gold.csv"
    with gold.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["uid", *CHEXPERT])
        writer.writerow(["r1", *["1" if c == "Pleural Effusion" else "" for c in CHEXPERT]])
        writer.writerow(["r2", *["1" if c == "No Finding" else "" for c in CHEXPERT]])
    evaluated = _manage("evaluate_labels", "--pred", str(out), "--gold", str(gold), env=NO_DATABASE)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "Pleural Effusion" in evaluated.stdout and "No Finding" in evaluated.stdout


def test_build_reference_bank_and_qc_masks_without_a_database(tmp_path):
    # Trusted references and a CheXmask CSV to judge, all generated
    generate_dataset(tmp_path / "refs", n_patients=8, seed=41, image_size=128)
    generate_dataset(tmp_path / "data", n_patients=3, seed=42, image_size=128)
    bank = tmp_path / "bank.npz"
    built = _manage(
        "build_reference_bank",
        "--masks",
        str(tmp_path / "refs" / "truth_masks"),
        "--output",
        str(bank),
        env=NO_DATABASE,
    )
    assert built.returncode == 0, built.stderr
    from labeling.qc.io import read_label_png
    from labeling.qc.rle import encode_chexmask_rle

    chexmask = tmp_path / "masks.csv"
    with chexmask.open("w", newline="") as fh:
        writer = csv.writer(fh)
        # Columns in CheXmask's varying order, id column named as in the NIH release
        writer.writerow(
            ["Image Index", "Dice RCA (Max)", "Dice RCA (Mean)", "Left Lung", "Right Lung", "Heart", "Height", "Width"]
        )
        paths = sorted((tmp_path / "data" / "masks").glob("*.png"))
        for path in paths:
            masks = read_label_png(path)
            h, w = masks["heart"].shape
            writer.writerow(
                [
                    path.stem,
                    "",
                    "",
                    encode_chexmask_rle(masks["left_lung"]),
                    encode_chexmask_rle(masks["right_lung"]),
                    encode_chexmask_rle(masks["heart"]),
                    h,
                    w,
                ]
            )
        writer.writerow(["broken", "", "", "1 5 9", "", "", 128, 128])
    out = tmp_path / "qc.csv"
    judged = _manage(
        "qc_masks", "--chexmask", str(chexmask), "--reference-bank", str(bank), "--output", str(out), env=NO_DATABASE
    )
    assert judged.returncode == 0, judged.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [
        "image_id",
        "estimated_dice",
        "estimated_dice_lungs",
        "estimated_dice_heart",
        "decision",
        "flags",
    ]
    assert len(rows) == len(paths) + 1
    assert rows[-1]["decision"] == "error" and "odd number" in rows[-1]["flags"]
    assert all(0 <= float(r["estimated_dice"]) <= 1 for r in rows[:-1])


@pytest.mark.django_db(transaction=True)
def test_import_studies_prints_one_json_summary_on_the_last_line(tmp_path, settings):
    generate_dataset(tmp_path / "src", n_patients=2, seed=43, image_size=64)
    (tmp_path / "src" / "notes.dcm").write_bytes(b"not dicom")
    from io import StringIO

    from django.core.management import call_command

    buffer = StringIO()
    call_command(
        "import_studies",
        "--project",
        "cli-test",
        "--source",
        "dicom",
        "--path",
        str(tmp_path / "src"),
        "--json",
        stdout=buffer,
    )
    summary = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert summary["imported"] == len(list((tmp_path / "src" / "dicom").rglob("*.dcm")))
    assert summary["duplicates"] == 0
    assert summary["errors"] == [
        {"file": "notes.dcm", "reason": "not a DICOM file (no DICM preamble and no valid header)"}
    ]
    assert summary["project"] == "cli-test" and summary["status"] == "succeeded"
