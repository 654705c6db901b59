"""Reading studies for the browser and the API: validated filters, keyset pages, a patient's timeline.

Every filter value comes from an allow-list or is range-checked before it reaches the ORM. The equality
filters are the study's facets (curation.services.facets) under one GIN index, and a list query that the
planner misjudges falls back to the plan that starts from that index (within_plan_budget), so a page costs
about the same on 10^6 studies as on 10^3, whatever the combination.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from labeling.models import Decision, ReviewState
from nlp.models import LabelingRun

from ..models import Dataset, Project, Report, Sex, Study, View
from . import facets

log = logging.getLogger(__name__)

PAGE_SIZE = 50
# Database ids are signed 64-bit integers: anything outside is no id at all (and would overflow the driver).
MAX_ID = 2**63 - 1
MAX_AGE = 150
MAX_LABEL_LENGTH = 100
MINED_STATUSES = ("positive", "negative", "uncertain")
TRUE_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
# Label names are data, never part of a lookup: letters, digits, spaces and a little punctuation that the
# datasets' own names use ("Pleural_Thickening", "Support Devices", Open-i's "Pulmonary Disease, Chronic
# Obstructive"). A double underscore is refused outright: it is how ORM lookups are spelled.
_LABEL_NAME = re.compile(r"[\w ,.()'/+-]+")


def _lookup_names() -> frozenset[str]:
    """Every ORM lookup and transform a JSON key could be mistaken for (`in`, `regex`, `contains`, `isnull`...)."""
    from django.db.models import JSONField

    return frozenset(name.lower() for name in {*JSONField.get_lookups(), *KeyTransform.get_lookups()})


def label_name(raw: str, field: str) -> str:
    """A label name from user input, stripped; raises ValidationError unless it is a plain name."""
    name = (raw or "").strip()
    if not name:
        return ""
    if name.lower() in _lookup_names():
        # Harmless now (names are data, never lookups), but no dataset has such a label: refuse it plainly.
        raise ValidationError({field: f"Give a label name, not the query lookup {name!r}."})
    if len(name) > MAX_LABEL_LENGTH or "__" in name or not _LABEL_NAME.fullmatch(name):
        raise ValidationError(
            {field: f"Give a label name (letters, digits, spaces, _ - / , . ( ) ', at most {MAX_LABEL_LENGTH})."}
        )
    return name


def bounded_int(raw, field: str, low: int, high: int, what: str = "a whole number") -> int | None:
    """An optional integer parameter within [low, high]; None when absent; ValidationError otherwise."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ValidationError({field: f"Give {what}."})
    if len(text) > 19 or not low <= int(text) <= high:
        raise ValidationError({field: f"Give {what} from {low} to {high}."})
    return int(text)


def one_of(raw, field: str, allowed) -> str:
    """An optional parameter that must be one of `allowed` (an allow-list); "" when absent."""
    value = str(raw if raw is not None else "").strip()
    if value and value not in allowed:
        raise ValidationError({field: f"Give one of: {', '.join(sorted(allowed))}."})
    return value


@dataclass
class StudyFilters:
    dataset: str = ""
    view: str = ""
    sex: str = ""
    age_min: int | None = None
    age_max: int | None = None
    has_report: bool | None = None
    label: str = ""  # a source label that is positive (1) in the dataset's own labels
    mined_label: str = ""  # a label mined from the report, in the project's latest successful run
    mined_status: str = ""  # with mined_label: that label's status; alone: any label with this status
    qc_decision: str = ""  # the decision of the newest QC result of one of the study's images
    review_state: str = ""  # one of the study's review items (labels, masks, structure) is in this state

    @classmethod
    def from_query(cls, query) -> StudyFilters:
        """Filters from a query string; raises ValidationError (all bad parameters at once) on bad input."""
        errors: dict[str, list[str]] = {}
        values = {}

        def take(name, parse):
            try:
                values[name] = parse()
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    errors.setdefault(field, []).extend(messages)

        def years(name):
            return bounded_int(query.get(name), name, 0, MAX_AGE, "a whole number of years")

        def has_report():
            raw = (query.get("has_report") or "").strip().lower()
            if raw and raw not in TRUE_WORDS:
                raise ValidationError({"has_report": "Give true or false."})
            return TRUE_WORDS.get(raw)

        take("dataset", lambda: one_of(query.get("dataset"), "dataset", Dataset.values))
        take("view", lambda: one_of(query.get("view"), "view", [v for v in View.values if v]))
        take("sex", lambda: one_of(query.get("sex"), "sex", [v for v in Sex.values if v]))
        take("age_min", lambda: years("age_min"))
        take("age_max", lambda: years("age_max"))
        take("has_report", has_report)
        take("label", lambda: label_name(query.get("label"), "label"))
        take("mined_label", lambda: label_name(query.get("mined_label"), "mined_label"))
        take("mined_status", lambda: one_of(query.get("mined_status"), "mined_status", MINED_STATUSES))
        take("qc_decision", lambda: one_of(query.get("qc_decision"), "qc_decision", Decision.values))
        take("review_state", lambda: one_of(query.get("review_state"), "review_state", ReviewState.values))
        if errors:
            raise ValidationError(errors)
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(value not in ("", None) for value in vars(self).values())


def latest_successful_run(project: Project) -> LabelingRun | None:
    """The run whose labels the study filters read: the newest complete one, in any label space."""
    return LabelingRun.objects.filter(project=project, complete=True).order_by("-id").first()


def filter_tokens(filters: StudyFilters) -> list[str]:
    """The facets (curation.services.facets) a study must hold to match the equality filters."""
    wanted = []
    if filters.dataset:
        wanted.append(facets.dataset_token(filters.dataset))
    if filters.sex:
        wanted.append(facets.sex_token(filters.sex))
    if filters.has_report is not None:
        wanted.append(facets.report_token(filters.has_report))
    if filters.view:
        wanted.append(facets.view_token(filters.view))
    if filters.label:
        wanted.append(facets.label_token(filters.label))
    if filters.mined_label:
        wanted.append(facets.mined_token(filters.mined_label, filters.mined_status or "positive"))
    elif filters.mined_status:
        wanted.append(facets.mined_status_token(filters.mined_status))
    if filters.qc_decision:
        wanted.append(facets.qc_token(filters.qc_decision))
    if filters.review_state:
        wanted.append(facets.review_token(filters.review_state))
    return wanted


def study_queryset(project: Project, filters: StudyFilters) -> QuerySet[Study]:
    """The project's studies matching every filter (unordered: callers page by id).

    Every equality filter is a facet of the study, so any combination is one containment test that the GIN
    index answers by intersecting posting lists; ages are a range on the study row.
    """
    qs = Study.objects.filter(project=project).select_related("patient")
    wanted = filter_tokens(filters)
    if wanted:
        qs = qs.filter(facets__has_all=wanted)
    if filters.age_min is not None:
        qs = qs.filter(age_years__gte=filters.age_min)
    if filters.age_max is not None:
        qs = qs.filter(age_years__lte=filters.age_max)
    return qs


# --- A time budget for the planner's first choice ---------------------------------------------------------
# PostgreSQL estimates a combination of filters as if they were independent. When they are correlated in the
# data (a dataset's label asked of another dataset, "no report" with a mined label), it expects many matches,
# walks the id index for the first 50, and may read every study to find none. So a list query gets a short
# budget; past it, the same query runs again with index walks off, which leaves the bitmap plan that starts
# from the GIN intersection: fast exactly when matches are few, the case that made the first plan slow.


def within_plan_budget(evaluate):
    """`evaluate()` (a callable that runs the list's queries) under the budget, then with the bitmap plan."""
    budget = settings.STUDY_LIST_PLAN_BUDGET_MS
    if connection.vendor != "postgresql" or not budget:
        return evaluate()
    from django.db.utils import OperationalError
    from psycopg.errors import QueryCanceled

    # SET LOCAL ends with the transaction, but outlives a released savepoint: inside an outer transaction
    # the settings are put back for the rest of it.
    nested = connection.in_atomic_block
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", [f"{int(budget)}ms"])
            result = evaluate()
            if nested:
                cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
            return result
    except OperationalError as exc:
        if not isinstance(exc.__cause__, QueryCanceled):
            raise
    log.info("study list over its plan budget (%s ms): read again from the filter index", budget)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off")
        result = evaluate()
        if nested:
            cursor.execute("SET LOCAL enable_indexscan TO DEFAULT; SET LOCAL enable_indexonlyscan TO DEFAULT")
        return result


def parse_id(raw) -> int | None:
    """An id from a query string or URL, or None when it is malformed or cannot be a row id."""
    text = str(raw or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= MAX_ID:
        return int(text)
    return None


# The study browser's orders: each is walked on an index (study_project_recent, study_project_date), and
# each has a keyset cursor, so page 1000 costs what page 1 does.
SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "date": "Study date, newest first",
    "date_asc": "Study date, oldest first",
}


def _cursor(raw) -> tuple[str | None, int] | None:
    """A date-order cursor "YYYY-MM-DD.id" or "-.id" (an undated study); None when malformed."""
    text = str(raw or "").strip()
    day, _, ident = text.rpartition(".")
    pk = parse_id(ident)
    if pk is None:
        return None
    if day == "-":
        return None, pk
    if len(day) == 10 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        return day, pk
    return None


def sorted_page(qs: QuerySet, sort: str, after: str | None, size: int = PAGE_SIZE) -> tuple[list, str | None]:
    """One page of `qs` in the order `sort` (a key of SORTS), starting after the cursor `after`.

    Returns the rows and the next page's cursor. Dates are nullable: newest-first puts undated studies
    last and oldest-first puts them first, which makes the two orders exact reverses of one index.
    """
    from django.db.models import F, Q

    if sort not in ("date", "date_asc"):
        descending = sort != "oldest"
        start = parse_id(after)
        if start is not None:
            qs = qs.filter(pk__lt=start) if descending else qs.filter(pk__gt=start)
        rows = list(qs.order_by("-pk" if descending else "pk")[: size + 1])
        return rows[:size], (str(rows[size - 1].pk) if len(rows) > size else None)
    descending = sort == "date"
    cursor = _cursor(after)
    if cursor is not None:
        day, pk = cursor
        if descending:
            # Order: dated (newest first, then id down), then undated (id down).
            qs = qs.filter(
                Q(study_date__lt=day) | Q(study_date=day, pk__lt=pk) | Q(study_date__isnull=True)
                if day
                else Q(study_date__isnull=True, pk__lt=pk)
            )
        else:
            # Order: undated (id up), then dated (oldest first, then id up).
            qs = qs.filter(
                Q(study_date__gt=day) | Q(study_date=day, pk__gt=pk)
                if day
                else Q(study_date__isnull=True, pk__gt=pk) | Q(study_date__isnull=False)
            )
    order = (
        [F("study_date").desc(nulls_last=True), F("pk").desc()]
        if descending
        else [F("study_date").asc(nulls_first=True), F("pk").asc()]
    )
    rows = list(qs.order_by(*order)[: size + 1])
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], f"{last.study_date.isoformat() if last.study_date else '-'}.{last.pk}"


# Counting stops here: an exact count of a sparse filter on 10^6 studies is a scan, and past a thousand the
# number tells a curator nothing the first pages do not ("more than 1000").
COUNT_CAP = 1_000


def capped_count(qs: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows match, counting no further than `cap`: (count, True when there are more)."""
    n = within_plan_budget(lambda: qs.order_by()[: cap + 1].count())
    return min(n, cap), n > cap


def source_label_names(project: Project, limit: int = 500) -> list[str]:
    """Label names seen in the project's native labels (from a sample: cheap on 10^6 studies)."""
    names: set[str] = set()
    sample = Report.objects.filter(study__project=project).order_by().values_list("source_labels", flat=True)[:limit]
    for labels in sample:
        names.update(labels or {})
    return sorted(names)


def mined_label_names(project: Project) -> list[str]:
    """Label names of the latest successful run (from its stats: no scan of the labels)."""
    run = latest_successful_run(project)
    return sorted((run.stats or {}) if run else {})


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
