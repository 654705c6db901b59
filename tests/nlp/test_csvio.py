"""label_csv and evaluate_csv: the CLI contract, bad input, and the evaluation output."""

import csv
import json

import pytest

from nlp.core.csvio import CsvFormatError, evaluate_csv, label_csv
from nlp.core.evaluate import format_summary
from nlp.core.labeler import MAX_REPORT_CHARS

CHEXPERT_HEADER = [
    "uid", "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
]  # fmt: skip
CXR14_HEADER = [
    "uid", "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
    "No_Finding",
]  # fmt: skip


def write_reports(path, rows, header=("uid", "findings", "impression")):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_label_csv_writes_the_chexpert_contract(tmp_path, labeler):
    write_reports(
        tmp_path / "reports.csv",
        [("a1", "Small left pleural effusion. No pneumothorax.", "Possible pneumonia.")],
    )

    summary = label_csv(
        tmp_path / "reports.csv", tmp_path / "labels.csv", "uid", ["findings", "impression"], "chexpert",
        labeler=labeler,
    )  # fmt: skip

    rows = read_rows(tmp_path / "labels.csv")
    assert rows[0] == CHEXPERT_HEADER
    assert dict(zip(rows[0], rows[1], strict=True)) == {
        **dict.fromkeys(CHEXPERT_HEADER, ""),
        "uid": "a1",
        "Pneumonia": "-1",
        "Pneumothorax": "0",
        "Pleural Effusion": "1",
    }
    assert (summary.rows, summary.labelled, summary.errors) == (1, 1, [])


def test_label_csv_writes_the_chestxray14_contract_and_evidence(tmp_path, labeler):
    write_reports(tmp_path / "reports.csv", [("b7", "Heart size is normal. Lungs are clear.", "")])

    label_csv(
        tmp_path / "reports.csv", tmp_path / "labels.csv", "uid", ["findings", "impression"], "chestxray14",
        jsonl_path=tmp_path / "evidence.jsonl", labeler=labeler,
    )  # fmt: skip

    rows = read_rows(tmp_path / "labels.csv")
    assert rows[0] == CXR14_HEADER
    assert rows[1] == ["b7", "", "0"] + [""] * 12 + ["1"]
    record = json.loads((tmp_path / "evidence.jsonl").read_text().splitlines()[0])
    heart = record["findings"]["cardiomegaly"]["evidence"][0]
    assert (record["id"], heart["text"], heart["field"], heart["start"], heart["end"]) == (
        "b7", "Heart size", "findings", 0, 10,
    )  # fmt: skip


def test_missing_columns_raise_a_clear_error(tmp_path, labeler):
    write_reports(tmp_path / "reports.csv", [("1", "x")], header=("uid", "text"))

    with pytest.raises(CsvFormatError) as caught:
        label_csv(tmp_path / "reports.csv", tmp_path / "out.csv", "uid", ["findings", "impression"], labeler=labeler)

    assert str(caught.value).endswith("missing column(s) findings, impression; the header has uid, text")


def test_empty_file_raises_a_clear_error(tmp_path, labeler):
    (tmp_path / "empty.csv").write_bytes(b"")

    with pytest.raises(CsvFormatError) as caught:
        label_csv(tmp_path / "empty.csv", tmp_path / "out.csv", "uid", ["findings"], labeler=labeler)

    assert str(caught.value).endswith("the file is empty or has no header row")


def test_bad_rows_get_blank_labels_and_the_others_are_still_labelled(tmp_path, labeler):
    huge = "Small effusion. " * (MAX_REPORT_CHARS // 16 + 10)
    content = (
        b"uid,findings,impression\n"
        b"empty,,\n"
        b"headers,FINDINGS:,IMPRESSION:\n"
        b"latin1,Small right pleural effusion caf\xe9.,\n" + f"huge,{huge},\n".encode() + b"good,No pneumothorax.,\n"
    )
    (tmp_path / "reports.csv").write_bytes(content)

    summary = label_csv(tmp_path / "reports.csv", tmp_path / "labels.csv", "uid", ["findings", "impression"],
                        labeler=labeler)  # fmt: skip

    rows = {row[0]: row[1:] for row in read_rows(tmp_path / "labels.csv")[1:]}
    blank = [""] * 14
    assert rows["empty"] == blank
    assert rows["headers"] == blank
    assert rows["huge"] == blank
    assert rows["latin1"][CHEXPERT_HEADER.index("Pleural Effusion") - 1] == "1"
    assert rows["good"][CHEXPERT_HEADER.index("Pneumothorax") - 1] == "0"
    assert [(e.report_id, e.message.split(" characters")[0]) for e in summary.errors] == [
        ("huge", f"report is {len(huge)}")
    ]
    assert [(w.report_id, w.message) for w in summary.warnings] == [
        ("latin1", "text contains bytes that are not valid UTF-8 (replaced)")
    ]
    assert (summary.rows, summary.labelled) == (5, 4)


def test_evaluate_csv_scores_positive_detection_and_statuses(tmp_path):
    header = ["uid", "Edema", "Pneumothorax"]
    write_reports(tmp_path / "pred.csv", [("1", "1", "0"), ("2", "", "1"), ("3", "-1", "")], header=header)
    write_reports(tmp_path / "gold.csv", [("1", "1", "0"), ("2", "1", "1"), ("3", "-1", "0")], header=header)

    summary = evaluate_csv(tmp_path / "pred.csv", tmp_path / "gold.csv")

    edema, pneumothorax = summary.positive["Edema"], summary.positive["Pneumothorax"]
    assert (edema.tp, edema.fp, edema.fn, round(edema.f1, 4)) == (1, 0, 1, 0.6667)
    assert (pneumothorax.tp, pneumothorax.fp, pneumothorax.fn) == (1, 0, 0)
    assert round(summary.micro_f1, 4) == 0.8
    negative = summary.by_status["Pneumothorax"]["negative"]
    assert (negative.tp, negative.fn, round(negative.recall, 2)) == (1, 1, 0.5)
    assert summary.by_status["Edema"]["uncertain"].f1 == 1.0
    text = format_summary(summary)
    assert "Positive detection" in text and "Per status" in text
    assert "Edema / uncertain                    1.000   1.000  1.000        1" in text


def test_evaluate_csv_skips_excluded_gold_rows_and_rejects_bad_values(tmp_path):
    write_reports(tmp_path / "pred.csv", [("1", "1"), ("2", "yes")], header=["uid", "Edema"])
    write_reports(tmp_path / "gold.csv", [("1", "0", "1"), ("2", "0", "")], header=["uid", "exclude", "Edema"])

    with pytest.raises(CsvFormatError) as caught:
        evaluate_csv(tmp_path / "pred.csv", tmp_path / "gold.csv")

    assert str(caught.value) == "label value 'yes' is not 1, 0, -1 or blank"
