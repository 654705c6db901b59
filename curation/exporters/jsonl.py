"""JSON Lines: one object per image with its study, patient pseudonym, split and each label with its source.

Structured findings and their changes (the longitudinal issue) will join each object as `structure`.
"""

from __future__ import annotations

import json

from ..csvsafe import safe_file_name
from .base import Export


def write(export: Export) -> None:
    with export.sink.text(export.path("dataset.jsonl")) as out:
        for row in export.rows():
            name = None
            if export.images != "none":
                name = f"images/{safe_file_name(row.image_key, export.extension)}"
                if not export.put_image(row, name):
                    name = None
            record = {
                "image": row.image_key,
                "study": row.study_key,
                "patient": row.patient,
                "split": row.split,
                "dataset": row.dataset,
                "view": row.view_position,
                "sex": row.sex,
                "age": row.age_years,
                "follow_up": row.follow_up,
                "qc_decision": row.qc_decision,
                "labels": {
                    label: {"status": status, "source": source} for label, (status, source) in row.labels.items()
                },
                "file": name,
            }
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            export.count("rows")
