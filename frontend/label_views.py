"""Label mining screens: runs and their labels in review order, the project vocabulary."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.utils.safestring import mark_safe

from curation import jobkinds
from curation.errors import Conflict
from curation.permissions import Action, action, can, get_project
from curation.services import jobs as job_services
from nlp import services
from nlp.models import LabelingRun, MinedLabel

from .paging import value_keyset_page

PAGE = 50


def highlight(text: str, evidence: list[dict], field_text_only=True) -> str:
    """The report with each evidence span wrapped in <mark> (offsets are into the report text)."""
    spans = sorted({(e["start"], e["end"], e.get("status", "")) for e in evidence if e.get("field") in (None, "text")})
    out, pos = [], 0
    for start, end, status in spans:
        if start < pos or end > len(text):
            continue
        out.append(escape(text[pos:start]))
        out.append(f'<mark class="ev ev-{escape(status)}">{escape(text[start:end])}</mark>')
        pos = end
    out.append(escape(text[pos:]))
    return mark_safe("".join(out))  # noqa: S308 -- every piece above is escaped


@login_required
def labels_page(request, slug):
    project = get_project(request.user, slug, Action.VIEW_LABELS)
    runs = list(LabelingRun.objects.filter(project=project)[:20])
    run_id = request.GET.get("run")
    run = next((r for r in runs if str(r.pk) == run_id), runs[0] if runs else None)
    labels, next_after = [], None
    label, status, changed = (
        request.GET.get("label", ""),
        request.GET.get("status", ""),
        request.GET.get("changed") == "1",
    )
    if run is not None:
        qs = services.changed_labels(run) if changed else MinedLabel.objects.filter(run=run)
        if label:
            qs = qs.filter(label=label)
        if status:
            qs = qs.filter(status="" if status == "not_mentioned" else status)
        # Most doubtful first: priority descending, ties by id.
        labels, next_after = value_keyset_page(
            qs.select_related("study"),
            "priority",
            request.GET.get("after", ""),
            value_desc=True,
            id_desc=False,
            size=PAGE,
        )
    space_labels = sorted(run.stats) if run else []
    return render(
        request,
        "frontend/labels.html",
        {
            "project": project,
            "runs": runs,
            "run": run,
            "labels": labels,
            "next_after": next_after,
            "label": label,
            "status": status,
            "changed": changed,
            "space_labels": space_labels,
            "can_mine": jobkinds.get("nlp.mine_labels").start_action("none").allowed(request.user, project),
            "statuses": ["positive", "uncertain", "negative", "not_mentioned"],
        },
    )


@login_required
def mine_labels(request, slug):
    project = get_project(request.user, slug, Action.VIEW_LABELS)
    if request.method != "POST":
        return redirect("frontend:labels", slug=slug)
    try:
        job = job_services.start_job(
            request.user, project, "nlp.mine_labels", {"label_space": request.POST.get("label_space")}
        )
    except (ValidationError, Conflict) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("frontend:labels", slug=slug)
    messages.success(request, f"Label mining started as job #{job.pk}.")
    return redirect("frontend:job-detail", slug=slug, job_id=job.pk)


@login_required
def vocabulary_page(request, slug):
    project = get_project(request.user, slug, Action.VIEW_LABELS)
    editable = can(request.user, Action.EDIT_VOCABULARY, project)
    if request.method == "POST":
        if not editable:
            action(Action.EDIT_VOCABULARY).check(request.user, project)  # the 403 with the rule's words
        try:
            if request.POST.get("form") == "synonyms":
                terms = [t for t in request.POST.get("terms", "").split(",") if t.strip()]
                services.add_synonyms(request.user, project, request.POST.get("finding", ""), terms)
            elif request.POST.get("form") == "finding":
                finding = {
                    "id": request.POST.get("id", "").strip(),
                    "name": request.POST.get("name", "").strip(),
                    "terms": [t.strip() for t in request.POST.get("terms", "").split(",") if t.strip()],
                }
                chexpert = request.POST.get("chexpert_label", "").strip()
                if chexpert:
                    finding["labels"] = {"chexpert": chexpert}
                services.add_finding(request.user, project, finding)
            else:
                services.set_vocabulary_extension(
                    request.user, project, json.loads(request.POST.get("extension") or "{}")
                )
        except json.JSONDecodeError as exc:
            messages.error(request, f"Not valid JSON: {exc}")
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(request, "Vocabulary saved. Re-run label mining to apply it.")
            return redirect("frontend:vocabulary", slug=slug)
    vocabulary = services.project_vocabulary(project)
    findings = sorted(vocabulary.findings.values(), key=lambda f: f.name.lower())
    return render(
        request,
        "frontend/vocabulary.html",
        {
            "project": project,
            "editable": editable,
            "findings": findings,
            "extension": json.dumps(services.project_extension(project), indent=2),
            "chexpert_labels": vocabulary.label_space("chexpert").labels,
        },
    )
