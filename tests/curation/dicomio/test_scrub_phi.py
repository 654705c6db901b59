"""scrub_report against each kind of PHI, the clinical words that look like PHI, date shifting, and label mining.

All text here is invented for these tests.
"""

import csv
import re

import pytest

from curation.dicomio import PLACEHOLDER, scrub_report
from curation.dicomio.scrub_words import is_name, is_word


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # names: with and without titles, first name alone, "Last, First", initials, possessives, labels
        ("Reviewed with Ingrid Halvorsen, MD.", "Reviewed with ___, MD."),
        ("Nurse Mireille was informed.", "Nurse ___ was informed."),
        ("Patient: Ravi Iyer. Cough.", "Patient: ___. Cough."),
        ("Attending: Bello, Oluwaseun", "Attending: ___"),
        ("Discussed with Dr T. Wiśniewski at 10:05.", "Discussed with Dr ___ at 10:05."),
        ("Dr. Fontaine's read was confirmed.", "Dr. ___'s read was confirmed."),
        ("Findings relayed to Dolores Ibarra by phone.", "Findings relayed to ___ by phone."),
        ("Okonkwo agreed with the plan.", "___ agreed with the plan."),
        ("Signed by: Hiroshi Tanabe, M.D.", "Signed by: ___, M.D."),
        ("PATIENT NAME: KOVAC, ANDREJ", "PATIENT NAME: ___"),
        # a name found once is removed wherever it appears capitalised
        ("Nurse Rosalind was informed. Rosalind agreed.", "Nurse ___ was informed. ___ agreed."),
        # phones, pagers and faxes in several formats
        ("Call (555) 104 5497 or +1 555 104 5497.", "Call ___ or ___."),
        ("Fax: 555.203.7788, pager 4471.", "Fax: ___, pager ___."),
        # SSNs
        ("SSN 321-54-9876. Social security number 321 54 9876.", "SSN ___. Social security number ___."),
        # record, accession and order numbers with and without letters
        (
            "MRN: 00412377. Accession #QX55102733. Order number: ORD-2231-8812.",
            "MRN: ___. Accession #___. Order number: ___.",
        ),
        # ages over 89 only
        ("A 93-year-old woman, aged 101, and a 95 yo man.", "A ___-year-old woman, aged ___, and a ___ yo man."),
        # URLs and e-mails
        ("Images at https://viewer.example.net/s/8812 and mail r.iyer@example.org.", "Images at ___ and mail ___."),
        # street addresses and institutions
        ("Lives at 742 Juniper Lane, Fairview, OH 44123.", "Lives at ___."),
        (
            "Prior from Pinecrest Imaging Center, outside films from Harborview Heights Hospital.",
            "Prior from ___, outside films from ___.",
        ),
        # dates in numeric and written forms
        ("Compared with 3rd of May 2018, 2018/05/03 and 05.03.2018.", "Compared with ___, ___ and ___."),
    ],
)
def test_each_kind_of_phi_is_removed(text, expected):
    # Given report text with one kind of PHI
    # When it is scrubbed without a date offset
    result = scrub_report(text)

    # Then the PHI is '___' and everything else is unchanged
    assert result.text == expected


@pytest.mark.parametrize(
    "text",
    [
        "Kerley B lines. Hampton hump. Westermark sign. Greenfield filter. Fleischner Society criteria.",
        "Swan-Ganz catheter, Port-A-Cath, Hickman catheter, Dobhoff tube and Foley catheter in place.",
        "Note is made of Chilaiditi sign, Bochdalek hernia, Pancoast tumor and Ghon focus.",
        "Compression of T7 and L1. A 3.2 cm nodule. C5-C6 fusion. Ratio 1/2 of the hemithorax.",
        "An 89-year-old man and a 67-year-old woman. Heart rate 95 bpm; 92% on 2 L.",
        "Hyperinflated lungs. Bibasilar atelectasis. Retrocardiac opacity. Levoconvex scoliosis.",
        "FINDINGS: The lungs are clear. IMPRESSION: No acute process. Date: pending.",
        "Grace period noted. Young patient with cough. White matter is normal.",
        "Interventional Radiology was consulted. Emergency Department notified.",
    ],
)
def test_clinical_look_alikes_survive(text):
    # Given clinical text that looks like PHI (eponyms, devices, levels, measurements, ages up to 89)
    # When it is scrubbed with a date offset
    result = scrub_report(text, date_offset_days=12)

    # Then it is returned byte for byte
    assert result.text == text
    assert result.replacements == []


def test_text_outside_phi_is_byte_identical():
    # Given a report with PHI spread among clinical words, odd spacing and punctuation
    text = (
        "FINDINGS:  Stable  Kerley B lines;\tno effusion.\nReviewed with Oskar Lindqvist, MD on 2/9/2022 (pager 5512)."
    )

    # When it is scrubbed
    result = scrub_report(text)

    # Then the text between the replaced spans is exactly the original text
    pieces, position = [], 0
    for start, end, _ in result.replacements:
        pieces.append(text[position:start])
        position = end
    pieces.append(text[position:])
    assert result.text == PLACEHOLDER.join(pieces)
    assert [text[s:e] for s, e, _ in result.replacements] == ["Oskar Lindqvist", "2/9/2022", "5512"]


def test_dates_are_shifted_in_their_own_format():
    # Given written and numeric dates
    text = "Seen 3rd of May 2018, May 3, 2018, 03-May-2018, 2018-05-03, 5/3/18, 20180503 and May 2018."

    # When they are scrubbed with a 30-day offset
    result = scrub_report(text, date_offset_days=30)

    # Then each moves 30 days and keeps its format, so intervals between reports survive
    assert result.text == (
        "Seen 2nd of June 2018, June 2, 2018, 02-Jun-2018, 2018-06-02, 6/2/18, 20180602 and June 2018."
    )
    assert {kind for _, _, kind in result.replacements} == {"date"}


def test_known_names_are_removed_in_every_form_and_word():
    # Given the DICOM patient name and mentions of it, whole and in parts
    text = "ZELENKA^MARTA seen. Zelenka, Marta. Marta agreed. marta zelenka."

    # When scrubbed with that known name
    result = scrub_report(text, known_names=["ZELENKA^MARTA"])

    # Then no form of it is left
    assert result.text == "___ seen. ___. ___ agreed. ___."


def test_word_lists_know_words_and_names():
    # Given the generated word lists
    # When words and names are looked up
    # Then clinical and English words are words, inflected or prefixed, and common names are names
    assert [is_word(w) for w in ("lungs", "noted", "bibasilar", "hyperinflated", "atelectasis", "oyelaran")] == [
        True,
        True,
        True,
        True,
        True,
        False,
    ]
    assert [is_name(w) for w in ("Grace", "Miller", "Nguyen", "Lungs")] == [True, True, True, False]


PHI_SENTENCES = [
    "Findings were discussed with Dr. Lindqvist by telephone at 4:10 PM.",
    "Reviewed with Oskar Lindqvist, MD.",
    "Nurse Mireille was informed.",
    "Patient: Ravi Iyer. MRN: 00412377.",
    "Call (555) 104 5497 with questions.",
    "Prior study from Pinecrest Imaging Center dated 03/14/2019.",
    "A 93-year-old with cough.",
]


def test_labels_mined_from_scrubbed_reports_equal_the_originals(generated):
    # Given the generated reports, each with invented PHI sentences added before and after the report text
    from nlp.core.label_spaces import report_labels
    from nlp.core.labeler import Labeler

    folder, _truth = generated
    rows = list(csv.DictReader((folder / "reports.csv").open(encoding="utf-8")))
    originals = [
        f"{PHI_SENTENCES[i % len(PHI_SENTENCES)]} {row['report']} {PHI_SENTENCES[(i + 3) % len(PHI_SENTENCES)]}"
        for i, row in enumerate(rows)
    ]

    # When they are scrubbed and labels are mined from both
    scrubbed = [scrub_report(text).text for text in originals]
    labeler = Labeler()

    def labels(texts):
        return [report_labels(result, labeler.vocabulary, "chexpert") for result in labeler.label_many(texts)]

    # Then the PHI is gone and every report keeps exactly its labels
    assert len(rows) >= 10
    assert not any(re.search(r"Lindqvist|Mireille|Ravi|Iyer|5497|Pinecrest|00412377", text) for text in scrubbed)
    assert labels(scrubbed) == labels(originals)
