"""Reading studies for the browser and the API: filters, keyset pages, a patient's timeline."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet

from ..models import Image, Project, Report, Study

PAGE_SIZE = 50


@dataclass
class StudyFilters:
    dataset: str = ""
    view: str = ""
    sex: str = ""
    age_min: int | None = None
    age_max: int | None = None
    has_report: bool | None = None
    label: str = ""  # a source label that is positive (1) in the dataset's own labels

    @classmethod
    def from_query(cls, query) -> StudyFilters:
        def number(name):
            raw = (query.get(name) or "").strip()
            if not raw:
                return None
            if not raw.isdigit():
                raise ValidationError({name: "Give a whole number of years."})
            return int(raw)

        has_report = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(
            (query.get("has_report") or "").lower()
        )
        return cls(
            dataset=query.get("dataset", "") or "",
            view=query.get("view", "") or "",
            sex=query.get("sex", "") or "",
            age_min=number("age_min"),
            age_max=number("age_max"),
            has_report=has_report,
            label=(query.get("label") or "").strip(),
        )


def study_queryset(project: Project, filters: StudyFilters) -> QuerySet[Study]:
    qs = Study.objects.filter(project=project).select_related("patient")
    if filters.dataset:
        qs = qs.filter(dataset=filters.dataset)
    if filters.sex:
        qs = qs.filter(sex=filters.sex)
    if filters.age_min is not None:
        qs = qs.filter(age_years__gte=filters.age_min)
    if filters.age_max is not None:
        qs = qs.filter(age_years__lte=filters.age_max)
    if filters.has_report is not None:
        qs = qs.filter(has_report=filters.has_report)
    if filters.view:
        # EXISTS, not a JOIN + DISTINCT: stays cheap when studies have many images.
        qs = qs.filter(Exists(Image.objects.filter(study=OuterRef("pk"), view_position=filters.view)))
    if filters.label:
        qs = qs.filter(Exists(Report.objects.filter(study=OuterRef("pk"), **{f"source_labels__{filters.label}": 1})))
    return qs


def keyset_page(qs: QuerySet, before: str | None, size: int = PAGE_SIZE) -> tuple[list, int | None]:
    """One page ordered by descending id, starting below `before`; returns the next `before` value."""
    if before and before.isdigit():
        qs = qs.filter(pk__lt=int(before))
    rows = list(qs.order_by("-pk")[: size + 1])
    next_before = rows[size - 1].pk if len(rows) > size else None
    return rows[:size], next_before


def source_label_names(project: Project, limit: int = 500) -> list[str]:
    """Label names seen in the project's native labels (from a sample: cheap on 10^6 studies)."""
    names: set[str] = set()
    for labels in Report.objects.filter(study__project=project).values_list("source_labels", flat=True)[:limit]:
        names.update(labels or {})
    return sorted(names)


def patient_timeline(project: Project, pseudo_id: str):
    from ..models import Patient

    patient = Patient.objects.filter(project=project, pseudo_id=pseudo_id).first()
    if patient is None:
        return None, []
    studies = (
        Study.objects.filter(patient=patient)
        .prefetch_related("images")
        .select_related("report")
        .order_by("study_date", "pk")
    )
    return patient, list(studies)
