"""Chest radiograph report templates whose labels, locations, severities and changes are known.

`write_report` turns a findings state (what the phantom shows) and the prior study's state into report
text plus the truth a report-mining pipeline should recover from that text: hedged statements are
'uncertain', explicit negations are 'negative', and a finding the text never mentions has no label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CHEXPERT_LABELS = (
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
)
# Labels that make a study abnormal; Support Devices alone leaves "No Finding" positive, as in CheXpert.
PATHOLOGY_LABELS = tuple(label for label in CHEXPERT_LABELS if label not in ("No Finding", "Support Devices"))
SIZE_RANK = {"small": 1, "moderate": 2, "large": 3}
GRADE_RANK = {"mild": 1, "moderate": 2, "severe": 3}
DEVICE_TEXT = {
    "ett": ("endotracheal tube", "Endotracheal tube tip projects {cm} cm above the carina."),
    "central_line": (
        "right internal jugular central venous catheter",
        "Right internal jugular central venous catheter terminates in the {svc}.",
    ),
    "ng_tube": ("enteric tube", "Enteric tube courses below the diaphragm with the tip out of view."),
    "pacemaker": (
        "left chest wall pacemaker",
        "Left chest wall pacemaker with leads terminating in the right atrium and right ventricle.",
    ),
    "sternal_wires": ("median sternotomy wires", "Intact median sternotomy wires."),
}
_LOBE = {
    ("right", "upper"): "right upper lobe",
    ("right", "mid"): "right middle lobe",
    ("right", "lower"): "right lower lobe",
    ("left", "upper"): "left upper lobe",
    ("left", "mid"): "lingula",
    ("left", "lower"): "left lower lobe",
}
_EXTENT_WORD = {"mild": "patchy", "moderate": "moderate", "severe": "extensive"}


def empty_findings() -> dict:
    """Return a findings state with nothing abnormal (the keys `write_report` understands)."""
    return {
        "cardiomegaly": None,  # None or 'mild' / 'moderate' / 'severe'
        "effusion": None,  # None or {'side': 'left'|'right'|'bilateral', 'size': 'small'|'moderate'|'large'}
        "pneumothorax": None,  # None or {'side': 'left'|'right', 'size': ...}
        "opacity": None,  # None or {'side', 'zone': 'upper'|'mid'|'lower', 'kind', 'extent': mild..severe}
        "edema": None,  # None or 'mild' / 'moderate' / 'severe'
        "nodule": None,  # None or {'side', 'zone', 'size_mm'}
        "fracture": None,  # None or {'side', 'age': 'healed'|'acute'}
        "pleural_thickening": None,  # None or {'side'}
        "devices": [],
    }


# Marks "this is a first study", as opposed to None meaning "the prior study did not have it".
_NO_PRIOR = object()


class _Report:
    """Collects sentences and the labels they assert, refusing contradictory statuses."""

    def __init__(self) -> None:
        self.findings: list[str] = []
        self.impression: list[str] = []
        self.labels: dict[str, dict] = {}
        # Sentences asserting a finding, to summarise in the impression when nothing else is said there.
        self.key_sentences: list[str] = []

    def label(self, name: str, status: str, *, location=None, severity=None, change=None) -> None:
        entry = {"status": status, "location": location, "severity": severity, "change": change}
        previous = self.labels.get(name)
        if previous is not None and previous != entry:
            raise AssertionError(f"contradictory truth for {name}: {previous} vs {entry}")
        self.labels[name] = entry
        asserts = status in ("positive", "uncertain") and name in PATHOLOGY_LABELS
        if asserts and self.findings and self.findings[-1] not in self.key_sentences:
            self.key_sentences.append(self.findings[-1])


def _change(prior_value, value, rank: dict | None = None) -> str | None:
    if prior_value is _NO_PRIOR:
        return None
    if not prior_value and value:
        return "new"
    if prior_value and not value:
        return "resolved"
    if not prior_value and not value:
        return None
    if rank is None:
        return "unchanged"
    before, after = rank[_grade(prior_value)], rank[_grade(value)]
    return "unchanged" if before == after else "increased" if after > before else "decreased"


def _grade(value) -> str:
    if isinstance(value, dict):
        return value.get("size") or value.get("extent")
    return value


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _side_words(side: str) -> str:
    return "bilateral" if side == "bilateral" else side


def write_report(
    findings: dict,
    prior_findings: dict | None,
    rng: np.random.Generator,
    *,
    views: Sequence[str] = ("PA",),
    prior_date: str | None = None,
    study_date: str | None = None,
    phi: dict | None = None,
) -> tuple[str, dict]:
    """Write a free-text chest radiograph report for `findings`, compared with `prior_findings`.

    `prior_findings` is None for a patient's first study (every change is then None). `prior_date` and
    `study_date` (MM/DD/YYYY) and `phi` (keys 'physician', 'mrn', 'phone', 'patient_name') feed the
    PHI-like text that some reports carry. Returns (text, truth) where truth has 'labels' (CheXpert name ->
    status / location / severity / change), 'phi' (exact PHI substrings in the text) and
    'deid_traces' (de-identification placeholders already present, such as '___' or 'XXXX').
    """
    report = _Report()
    prior = prior_findings
    phi = phi or {}
    phi_found: list[str] = []
    traces: list[str] = []

    def prior_of(key):
        return _NO_PRIOR if prior is None else prior.get(key)

    _cardiac(report, findings.get("cardiomegaly"), prior_of("cardiomegaly"), rng)
    _effusion(report, findings.get("effusion"), prior_of("effusion"), rng)
    _pneumothorax(report, findings.get("pneumothorax"), prior_of("pneumothorax"), rng)
    _opacity(report, findings.get("opacity"), prior_of("opacity"), rng)
    _edema(report, findings.get("edema"), prior_of("edema"), rng)
    _nodule(report, findings.get("nodule"), prior_of("nodule"), rng)
    _pleural_other(report, findings.get("pleural_thickening"), prior_of("pleural_thickening"), rng)
    _fracture(report, findings.get("fracture"), prior_of("fracture"), rng)
    _devices(report, findings.get("devices") or [], None if prior is None else prior.get("devices") or [], rng)
    _negations(report, findings, rng)

    abnormal = any(report.labels.get(name, {}).get("status") in ("positive", "uncertain") for name in PATHOLOGY_LABELS)
    if not abnormal:
        report.label("No Finding", "positive")
        report.impression.insert(
            0,
            _pick(
                rng,
                [
                    "No acute cardiopulmonary process.",
                    "No acute cardiopulmonary abnormality.",
                    "Normal chest radiograph.",
                    "No radiographic evidence of acute disease.",
                ],
            ),
        )
    if not report.impression:
        report.impression.extend(report.key_sentences or ["No acute cardiopulmonary process."])

    # About a third of reports carry PHI-like text and a quarter carry earlier de-identification marks.
    with_phi = rng.random() < 0.35
    with_traces = rng.random() < 0.25
    indication = _indication(findings, prior, rng)
    if with_traces and rng.random() < 0.5:
        token = _pick(rng, ["___", "XXXX"])
        indication = (
            f"{token}-year-old {_pick(rng, ['man', 'woman', 'patient'])} with {indication[:1].lower()}{indication[1:]}"
        )
        traces.append(token)
    comparison = _comparison(prior, prior_date, with_phi, with_traces, rng, phi_found, traces)
    technique = _technique(views, rng)

    if _pneumothorax_is_new(report) or (with_phi and rng.random() < 0.5):
        physician = phi.get("physician", "Smith")
        time_of_day = f"{int(rng.integers(1, 12))}:{int(rng.integers(0, 60)):02d} {_pick(rng, ['AM', 'PM'])}"
        sentence = f"Findings were discussed with Dr. {physician} by telephone at {time_of_day}"
        if with_phi and study_date is not None and rng.random() < 0.5:
            sentence += f" on {study_date}"
            phi_found.append(study_date)
        if with_phi:
            phi_found.append(f"Dr. {physician}")
            report.impression.append(sentence + ".")
        else:
            token = _pick(rng, ["___", "XXXX"])
            report.impression.append(f"Findings were discussed with Dr. {token} by telephone at {token}.")
            traces.append(token)
    if with_phi and rng.random() < 0.4:
        phone = phi.get("phone", "555-867-5309")
        report.impression.append(f"Please call the reading room at {phone} with questions.")
        phi_found.append(phone)

    header_line = ""
    if with_phi and rng.random() < 0.4 and "mrn" in phi:
        name = phi.get("patient_name", "DOE, JANE")
        header_line = f"Patient: {name}   MRN: {phi['mrn']}"
        phi_found.extend([name, phi["mrn"]])

    text = _layout(
        report,
        rng,
        header_line=header_line,
        indication=indication,
        comparison=comparison,
        technique=technique,
        views=views,
    )
    missing = [item for item in phi_found + traces if item not in text]
    if missing:
        raise AssertionError(f"PHI/trace bookkeeping out of sync: {missing}")
    labels = {name: report.labels[name] for name in CHEXPERT_LABELS if name in report.labels}
    return text, {"labels": labels, "phi": sorted(set(phi_found)), "deid_traces": sorted(set(traces))}


def _pneumothorax_is_new(report: _Report) -> bool:
    # A new or growing pneumothorax is a critical result that radiologists phone through.
    entry = report.labels.get("Pneumothorax")
    return entry is not None and entry["status"] == "positive" and entry["change"] in (None, "new", "increased")


def _cardiac(report: _Report, grade, prior_grade, rng) -> None:
    change = _change(prior_grade, grade, GRADE_RANK)
    if grade is None:
        if change == "resolved":
            report.findings.append("Heart size has returned to normal.")
            report.label("Cardiomegaly", "negative", change="resolved")
        return
    if change == "unchanged":
        sentence = _pick(
            rng,
            [
                f"Stable {grade} cardiomegaly.",
                f"Unchanged {grade} enlargement of the cardiac silhouette.",
                f"{_cap(grade)} cardiomegaly is unchanged.",
            ],
        )
        report.findings.append(sentence)
        report.label("Cardiomegaly", "positive", severity=grade, change=change)
        if rng.random() < 0.5:
            report.impression.append(f"Unchanged {grade} cardiomegaly.")
        return
    if change in ("increased", "decreased"):
        verb = "increased" if change == "increased" else "decreased"
        report.findings.append(f"The cardiac silhouette has {verb} in size, now {grade} cardiomegaly.")
        report.impression.append(f"{'Increased' if change == 'increased' else 'Decreased'} cardiomegaly, now {grade}.")
        report.label("Cardiomegaly", "positive", severity=grade, change=change)
        return
    prefix = "New " if change == "new" else ""
    if grade == "mild" and rng.random() < 0.3:
        report.findings.append(
            _pick(
                rng,
                [
                    "Heart size is at the upper limits of normal, possibly mild cardiomegaly.",
                    "The cardiac silhouette may be mildly enlarged, accentuated by technique.",
                ],
            )
        )
        report.label("Cardiomegaly", "uncertain", severity="mild", change=change)
        return
    if rng.random() < 0.3:
        # Some radiologists describe the silhouette rather than the heart; that is a different label.
        report.findings.append(f"{prefix}{'e' if prefix else 'E'}nlarged cardiomediastinal silhouette.")
        report.label("Enlarged Cardiomediastinum", "positive", change=change)
        report.impression.append(f"{prefix}{'c' if prefix else 'C'}ardiomegaly, {grade}.")
    else:
        adverb = {"mild": "mildly", "moderate": "moderately", "severe": "severely"}[grade]
        report.findings.append(_pick(rng, [f"The heart is {adverb} enlarged.", f"{prefix}{grade} cardiomegaly."]))
        report.findings[-1] = _cap(report.findings[-1])
        if rng.random() < 0.7:
            report.impression.append(f"{prefix}{grade} cardiomegaly." if prefix else f"{_cap(grade)} cardiomegaly.")
            report.impression[-1] = _cap(report.impression[-1])
    report.label("Cardiomegaly", "positive", severity=grade, change=change)


def _effusion(report: _Report, state, prior_state, rng) -> None:
    if prior_state not in (_NO_PRIOR, None) and state is not None and prior_state["side"] != state["side"]:
        # An effusion on another side is a new finding, not a change of the old one.
        prior_state = None
    change = _change(prior_state, state, SIZE_RANK)
    if state is None:
        if change == "resolved":
            side = _side_words(prior_state["side"])
            plural = "s" if side == "bilateral" else ""
            sentence = _pick(
                rng,
                [
                    f"Interval resolution of the {side} pleural effusion{plural}.",
                    f"The previously seen {side} pleural effusion{plural} {'have' if plural else 'has'} resolved.",
                ],
            )
            report.findings.append(sentence)
            report.impression.append(sentence)
            report.label("Pleural Effusion", "negative", location=prior_state["side"], change="resolved")
        return
    side, size = _side_words(state["side"]), state["size"]
    plural = "s" if side == "bilateral" else ""
    location = state["side"]
    if change == "unchanged":
        sentence = _pick(
            rng,
            [
                f"Unchanged {size} {side} pleural effusion{plural}.",
                f"Stable {size} {side} pleural effusion{plural}.",
                f"{_cap(side)} {size} pleural effusion{plural} {'are' if plural else 'is'} unchanged.",
            ],
        )
        report.findings.append(sentence)
        report.impression.append(sentence)
        report.label("Pleural Effusion", "positive", location=location, severity=size, change=change)
        return
    if change in ("increased", "decreased"):
        sentence = _pick(
            rng,
            [
                f"{_cap(side)} pleural effusion{plural} {'have' if plural else 'has'} {change}, now {size}.",
                f"Interval {'increase' if change == 'increased' else 'decrease'} in the {side} pleural "
                f"effusion{plural}, now {size}.",
            ],
        )
        report.findings.append(sentence)
        report.impression.append(sentence)
        report.label("Pleural Effusion", "positive", location=location, severity=size, change=change)
        return
    prefix = "new " if change == "new" else ""
    if size == "small" and rng.random() < 0.35:
        hedge = _pick(
            rng,
            [
                f"Blunting of the {side} costophrenic angle{plural} may represent "
                f"{'' if plural else 'a '}{prefix}small effusion{plural}.",
                f"Possible {prefix}small {side} pleural effusion{plural}.",
                f"A {prefix}small {side} pleural effusion{plural} cannot be excluded.",
            ],
        )
        report.findings.append(_cap(hedge))
        report.impression.append(_cap(hedge))
        report.label("Pleural Effusion", "uncertain", location=location, severity=size, change=change)
        return
    sentence = _pick(
        rng,
        [
            f"{prefix}{size} {side} pleural effusion{plural}.",
            f"There is a {prefix}{size} {side} pleural effusion."
            if not plural
            else f"There are {prefix}{size} bilateral pleural effusions.",
            f"{prefix}{size} {side} pleural effusion{plural} with blunting of the costophrenic angle{plural}.",
        ],
    )
    report.findings.append(_cap(sentence))
    report.impression.append(_cap(f"{prefix}{size} {side} pleural effusion{plural}."))
    report.label("Pleural Effusion", "positive", location=location, severity=size, change=change)


def _pneumothorax(report: _Report, state, prior_state, rng) -> None:
    change = _change(prior_state, state, SIZE_RANK)
    if state is None:
        if change == "resolved":
            side = prior_state["side"]
            sentence = _pick(
                rng,
                [
                    f"The previously seen {side} pneumothorax has resolved.",
                    f"No residual {side} pneumothorax.",
                ],
            )
            report.findings.append(sentence)
            report.impression.append(f"Resolved {side} pneumothorax.")
            report.label("Pneumothorax", "negative", location=side, change="resolved")
        return
    side, size = state["side"], state["size"]
    if change in ("unchanged", "increased", "decreased"):
        words = {"unchanged": "Unchanged", "increased": "Enlarging", "decreased": "Decreasing"}
        sentence = f"{words[change]} {size} {side} apical pneumothorax."
        report.findings.append(sentence)
        report.impression.append(sentence)
        report.label("Pneumothorax", "positive", location=side, severity=size, change=change)
        return
    prefix = "new " if change == "new" else ""
    if size == "small" and rng.random() < 0.3:
        sentence = f"A {prefix}small {side} apical pneumothorax cannot be excluded."
        report.findings.append(sentence)
        report.impression.append(sentence)
        report.label("Pneumothorax", "uncertain", location=side, severity=size, change=change)
        return
    sentence = _cap(
        _pick(
            rng,
            [
                f"{prefix}{size} {side} apical pneumothorax.",
                f"There is a {prefix}{size} {side} pneumothorax.",
            ],
        )
    )
    report.findings.append(sentence)
    report.impression.append(_cap(f"{prefix}{size} {side} pneumothorax."))
    report.label("Pneumothorax", "positive", location=side, severity=size, change=change)


def _opacity(report: _Report, state, prior_state, rng) -> None:
    if prior_state not in (_NO_PRIOR, None) and state is not None and prior_state["kind"] != state["kind"]:
        prior_state = None
    change = _change(prior_state, state, GRADE_RANK)
    if state is None:
        if change == "resolved":
            lobe = _LOBE[(prior_state["side"], prior_state["zone"])]
            location = f"{prior_state['side']} {prior_state['zone']}"
            name = {"pneumonia": "Pneumonia", "atelectasis": "Atelectasis", "consolidation": "Consolidation"}[
                prior_state["kind"]
            ]
            sentence = f"Interval resolution of the {lobe} {prior_state['kind']}."
            report.findings.append(sentence)
            report.impression.append(sentence)
            report.label(name, "negative", location=location, change="resolved")
        return
    lobe = _LOBE[(state["side"], state["zone"])]
    location = f"{state['side']} {state['zone']}"
    extent = state["extent"]
    word = _EXTENT_WORD[extent]
    kind = state["kind"]
    if change in ("unchanged", "increased", "decreased"):
        verb = {"unchanged": "Persistent", "increased": "Worsening", "decreased": "Improving"}[change]
        noun = {"pneumonia": "consolidation", "atelectasis": "atelectasis", "consolidation": "consolidation"}[kind]
        sentence = f"{verb} {word} {lobe} {noun}."
        report.findings.append(sentence)
        report.impression.append(sentence)
        label = "Atelectasis" if kind == "atelectasis" else "Consolidation"
        report.label(label, "positive", location=location, severity=extent, change=change)
        return
    prefix = "new " if change == "new" else ""
    if kind == "pneumonia":
        variant = int(rng.integers(3))
        if variant == 0:
            report.findings.append(_cap(f"{prefix}{word} consolidation in the {lobe}, consistent with pneumonia."))
            report.impression.append(_cap(f"{prefix}{lobe} pneumonia."))
            report.label("Consolidation", "positive", location=location, severity=extent, change=change)
            report.label("Pneumonia", "positive", location=location, change=change)
        else:
            hedge = "may represent" if variant == 1 else "concerning for"
            report.findings.append(
                _cap(
                    f"{prefix}{word} airspace opacity in the {lobe}, which {hedge} pneumonia."
                    if variant == 1
                    else f"{prefix}{word} {lobe} opacity {hedge} pneumonia."
                )
            )
            report.impression.append(_cap(f"{prefix}{lobe} opacity {hedge} pneumonia."))
            report.label("Lung Opacity", "positive", location=location, severity=extent, change=change)
            report.label("Pneumonia", "uncertain", location=location, change=change)
    elif kind == "atelectasis":
        if rng.random() < 0.5:
            report.findings.append(_cap(f"{prefix}{word} {lobe} atelectasis."))
            report.label("Atelectasis", "positive", location=location, severity=extent, change=change)
        else:
            report.findings.append(_cap(f"{prefix}{word} opacity in the {lobe}, likely atelectasis."))
            report.label("Lung Opacity", "positive", location=location, severity=extent, change=change)
            report.label("Atelectasis", "uncertain", location=location, change=change)
    else:
        if rng.random() < 0.5:
            report.findings.append(_cap(f"{prefix}{word} consolidation in the {lobe}; pneumonia cannot be excluded."))
            report.impression.append(_cap(f"{prefix}{lobe} consolidation. Pneumonia cannot be excluded."))
            report.label("Consolidation", "positive", location=location, severity=extent, change=change)
            report.label("Pneumonia", "uncertain", location=location, change=change)
        else:
            report.findings.append(_cap(f"{prefix}{word} {lobe} opacity, atelectasis versus consolidation."))
            report.impression.append(_cap(f"{lobe} opacity, atelectasis versus consolidation."))
            report.label("Lung Opacity", "positive", location=location, severity=extent, change=change)
            report.label("Atelectasis", "uncertain", location=location, change=change)
            report.label("Consolidation", "uncertain", location=location, change=change)


def _edema(report: _Report, grade, prior_grade, rng) -> None:
    change = _change(prior_grade, grade, GRADE_RANK)
    if grade is None:
        if change == "resolved":
            report.findings.append("Interval resolution of pulmonary edema.")
            report.impression.append("Resolved pulmonary edema.")
            report.label("Edema", "negative", location="bilateral", change="resolved")
        return
    if change in ("unchanged", "increased", "decreased"):
        verb = {"unchanged": "Unchanged", "increased": "Worsening", "decreased": "Improving"}[change]
        sentence = (
            f"{verb} pulmonary edema, now {grade}." if change != "unchanged" else f"Unchanged {grade} pulmonary edema."
        )
        report.findings.append(sentence)
        report.impression.append(sentence)
        report.label("Edema", "positive", location="bilateral", severity=grade, change=change)
        return
    prefix = "new " if change == "new" else ""
    if grade == "mild" and rng.random() < 0.4:
        report.findings.append(
            _cap(f"{prefix}pulmonary vascular congestion; early interstitial edema cannot be excluded.")
        )
        report.label("Edema", "uncertain", location="bilateral", severity="mild", change=change)
        return
    report.findings.append(
        _cap(_pick(rng, [f"{prefix}{grade} pulmonary edema.", f"{prefix}{grade} interstitial pulmonary edema."]))
    )
    report.impression.append(_cap(f"{prefix}{grade} pulmonary edema."))
    report.label("Edema", "positive", location="bilateral", severity=grade, change=change)


def _nodule(report: _Report, state, prior_state, rng) -> None:
    change = _change(prior_state, state)
    if state is None:
        return
    lobe = _LOBE[(state["side"], state["zone"])]
    location = f"{state['side']} {state['zone']}"
    if change == "unchanged":
        report.findings.append(f"Stable {state['size_mm']} mm {lobe} nodule.")
        report.label("Lung Lesion", "positive", location=location, change=change)
        return
    prefix = "new " if change == "new" else ""
    if rng.random() < 0.35:
        sentence = f"Possible {prefix}nodular opacity in the {lobe}, which may represent a nipple shadow."
        report.findings.append(sentence)
        report.impression.append(f"Possible {lobe} nodule; repeat PA view with nipple markers is recommended.")
        report.label("Lung Lesion", "uncertain", location=location, change=change)
        return
    report.findings.append(_cap(f"{prefix}{state['size_mm']} mm nodule in the {lobe}."))
    report.impression.append(_cap(f"{prefix}{lobe} nodule. Recommend CT for further evaluation."))
    report.label("Lung Lesion", "positive", location=location, change=change)


def _pleural_other(report: _Report, state, prior_state, rng) -> None:
    change = _change(prior_state, state)
    if state is None:
        return
    word = "Stable " if change == "unchanged" else ""
    report.findings.append(f"{word}{'m' if word else 'M'}ild {state['side']} apical pleural thickening.")
    report.label("Pleural Other", "positive", location=state["side"], severity="mild", change=change)


def _fracture(report: _Report, state, prior_state, rng) -> None:
    change = _change(prior_state, state)
    if state is None:
        return
    side = state["side"]
    if state["age"] == "healed":
        sentence = _pick(rng, [f"Healed {side} rib fractures.", f"Old healed {side} rib fractures."])
        if change == "unchanged":
            sentence = f"Old healed {side} rib fractures are again noted."
    else:
        sentence = f"{'Unchanged' if change == 'unchanged' else 'Acute-appearing'} fracture of the {side} sixth rib."
        report.impression.append(sentence)
    report.findings.append(sentence)
    report.label("Fracture", "positive", location=side, change=change)


def _devices(report: _Report, devices: Sequence[str], prior_devices: Sequence[str] | None, rng) -> None:
    if prior_devices is None:
        new, kept, removed = list(devices), [], []
        first = True
    else:
        new = [d for d in devices if d not in prior_devices]
        kept = [d for d in devices if d in prior_devices]
        removed = [d for d in prior_devices if d not in devices]
        first = False
    for device in devices:
        name, template = DEVICE_TEXT[device]
        sentence = template.format(
            cm=int(rng.integers(3, 7)), svc=_pick(rng, ["mid SVC", "low SVC", "cavoatrial junction"])
        )
        if device in new and not first:
            sentence = f"Interval placement of {_article(name)} {name}. " + sentence
            report.impression.append(
                f"{_cap(name)} in standard position."
                if device != "ett"
                else "Endotracheal tube in appropriate position."
            )
        elif device in kept and rng.random() < 0.5:
            sentence = f"Unchanged position of the {name}."
        report.findings.append(sentence)
    for device in removed:
        report.findings.append(f"Interval removal of the {DEVICE_TEXT[device][0]}.")
    if devices:
        change = None if first else "new" if new else "unchanged"
        report.label("Support Devices", "positive", change=change)
    elif removed:
        # The text says every device is gone; a device label would be negative for this study.
        report.label("Support Devices", "negative", change="resolved")


def _article(name: str) -> str:
    return "an" if name[0] in "aeiou" else "a"


def _negations(report: _Report, findings: dict, rng) -> None:
    # Radiologists state pertinent negatives; only findings absent now (and not reported resolved) qualify.
    def free(label: str) -> bool:
        return label not in report.labels

    parts = []
    if findings.get("opacity") is None and free("Consolidation") and rng.random() < 0.8:
        parts.append(("focal consolidation", "Consolidation"))
    if findings.get("effusion") is None and free("Pleural Effusion") and rng.random() < 0.85:
        parts.append(("pleural effusion", "Pleural Effusion"))
    if findings.get("pneumothorax") is None and free("Pneumothorax") and rng.random() < 0.85:
        parts.append(("pneumothorax", "Pneumothorax"))
    if findings.get("edema") is None and free("Edema") and rng.random() < 0.3:
        parts.append(("pulmonary edema", "Edema"))
    if parts:
        words = [word for word, _ in parts]
        if len(words) == 1:
            phrase = words[0]
        elif len(words) == 2:
            phrase = f"{words[0]} or {words[1]}"
        else:
            phrase = ", ".join(words[:-1]) + f", or {words[-1]}"
        report.findings.append(f"No {phrase}.")
        for _, label in parts:
            report.label(label, "negative")
    clear_lungs = all(findings.get(key) is None for key in ("opacity", "edema", "nodule", "effusion", "pneumothorax"))
    if clear_lungs and free("Lung Opacity") and free("Atelectasis") and rng.random() < 0.5:
        report.findings.insert(0, _pick(rng, ["The lungs are clear.", "Lungs are well expanded and clear."]))
        report.label("Lung Opacity", "negative")
    if findings.get("cardiomegaly") is None and free("Cardiomegaly") and rng.random() < 0.75:
        if rng.random() < 0.5:
            report.findings.insert(0, "Heart size is normal.")
            report.label("Cardiomegaly", "negative")
        elif free("Enlarged Cardiomediastinum"):
            report.findings.insert(0, "The cardiomediastinal silhouette is within normal limits.")
            report.label("Enlarged Cardiomediastinum", "negative")
    if findings.get("fracture") is None and rng.random() < 0.3:
        report.findings.append("No acute osseous abnormality.")
        report.label("Fracture", "negative")


def _indication(findings: dict, prior: dict | None, rng) -> str:
    options = [
        "Shortness of breath.",
        "Cough and fever.",
        "Chest pain.",
        "Preoperative evaluation.",
        "Evaluate for pneumonia.",
        "Dyspnea on exertion.",
    ]
    devices = findings.get("devices") or []
    if "ett" in devices:
        options = ["Intubated patient, evaluate tube position.", "Respiratory failure."]
    elif "central_line" in devices:
        options += ["Line placement."]
    elif "pacemaker" in devices:
        options += ["Pacemaker in place, dyspnea."]
    if prior is not None and prior.get("effusion"):
        options += ["Follow-up pleural effusion."]
    if prior is not None and prior.get("pneumothorax"):
        options += ["Follow-up pneumothorax."]
    return _pick(rng, options)


def _comparison(prior, prior_date, with_phi, with_traces, rng, phi_found, traces) -> str:
    if prior is None:
        return _pick(rng, ["None.", "None available.", "No prior studies."])
    if with_phi and prior_date is not None:
        phi_found.append(prior_date)
        return _pick(rng, [f"Chest radiograph dated {prior_date}.", f"{prior_date}."])
    if with_traces:
        token = _pick(rng, ["___", "XXXX"])
        traces.append(token)
        return f"Chest radiograph {token}."
    return _pick(rng, ["Prior chest radiograph.", "Previous study.", "Prior radiographs."])


def _technique(views: Sequence[str], rng) -> str:
    if "AP" in views:
        return "Single portable AP view of the chest."
    if "LL" in views:
        return _pick(rng, ["PA and lateral views of the chest.", "Frontal and lateral chest radiographs."])
    return "Single PA view of the chest."


def _layout(report: _Report, rng, *, header_line, indication, comparison, technique, views) -> str:
    style = _pick(rng, ["headers", "headers", "headers", "numbered", "no_headers"])
    exam = "CHEST (PORTABLE AP)" if "AP" in views else "CHEST (PA AND LAT)" if "LL" in views else "CHEST (PA)"
    findings = " ".join(report.findings)
    if style == "no_headers":
        # Free-text reports rarely repeat themselves, so only impression sentences that add something stay.
        extra = [sentence for sentence in report.impression if sentence not in report.findings]
        body = " ".join([indication, f"Comparison: {comparison}", findings, *extra])
        return "\n".join(line for line in (header_line, body) if line)
    history = _pick(rng, ["INDICATION", "HISTORY", "CLINICAL HISTORY"])
    lines = [header_line] if header_line else []
    if rng.random() < 0.5:
        lines += [f"EXAMINATION: {exam}", ""]
    lines += [f"{history}: {indication}", "", f"COMPARISON: {comparison}", ""]
    if rng.random() < 0.4:
        lines += [f"TECHNIQUE: {technique}", ""]
    lines += ["FINDINGS:", findings, "", "IMPRESSION:"]
    if style == "numbered" and len(report.impression) > 1:
        lines += [f"{i}. {sentence}" for i, sentence in enumerate(report.impression, start=1)]
    else:
        lines.append(" ".join(report.impression))
    return "\n".join(lines)
