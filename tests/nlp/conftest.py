"""Shared fixtures for the label-mining core tests: one Labeler per session (building it takes ~0.5 s)."""

import pytest

from nlp.core.label_spaces import report_labels
from nlp.core.labeler import Labeler


@pytest.fixture(scope="session")
def labeler():
    return Labeler()


@pytest.fixture(scope="session")
def chexpert(labeler):
    """Label one text and return its CheXpert labels without the not-mentioned ones."""

    def run(text):
        labels = report_labels(labeler.label(text), labeler.vocabulary, "chexpert")
        return {label: status for label, status in labels.items() if status is not None}

    return run
