"""Site user management and onboarding screens: the account list and one account (site admins: create,
deactivate, reactivate, reset), a project's bulk onboarding from a CSV (preview, then confirm), and the
set-password page a one-time link opens. Each view asks curation.permissions and calls
curation.services.onboarding or curation.services.accounts; a set-password link is shown once, never stored.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from curation.models import Membership, User
from curation.permissions import Action, SiteAction, account_allowed, get_project, site_allowed, site_check
from curation.services import accounts, onboarding

USER_PAGE = 100
MAX_QUERY = 100


def _base_url(request) -> str:
    """The site's address for links: the request's host, which ALLOWED_HOSTS has already vetted."""
    return request.build_absolute_uri("/").rstrip("/")


def _field_errors(exc: ValidationError) -> dict[str, str]:
    if hasattr(exc, "error_dict"):
        return {field: " ".join(msgs) for field, msgs in exc.message_dict.items()}
    return {"form": " ".join(exc.messages)}


# --- The account list and one account -----------------------------------------------------------------------


def _users_context(request, **extra) -> dict:
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    state = request.GET.get("state", "")
    state = state if state in {"active", "inactive"} else ""
    after = request.GET.get("after", "")[:150]
    users = User.objects.annotate(projects=Count("memberships"))
    if query:
        matches = Q(username__icontains=query) | Q(email__icontains=query) | Q(display_name__icontains=query)
        users = users.filter(matches)
    if state:
        users = users.filter(is_active=state == "active")
    if after:
        users = users.filter(username__gt=after)
    # Keyset on the unique username: a page deep into the list costs what the first one does.
    page = list(users.order_by("username")[: USER_PAGE + 1])
    context = {
        "users": page[:USER_PAGE],
        "next_after": page[USER_PAGE - 1].username if len(page) > USER_PAGE else "",
        "query": query,
        "state": state,
        "values": {"username": "", "email": "", "name": ""},
        "errors": {},
        "email_configured": onboarding.email_configured(),
        "link_days": onboarding.link_lifetime_days(),
    }
    context.update(extra)
    return context


@never_cache
@login_required
def site_users(request):
    """GET lists accounts (search, active/inactive); POST creates one and shows its set-password link once."""
    site_check(request.user, SiteAction.MANAGE_USERS)
    if request.method != "POST":
        return render(request, "frontend/site_users.html", _users_context(request))
    values = {name: request.POST.get(name, "")[:300] for name in ("username", "email", "name")}
    try:
        link = onboarding.create_local_user(request.user, **values, base_url=_base_url(request))
    except ValidationError as exc:
        context = _users_context(request, values=values, errors=_field_errors(exc))
        return render(request, "frontend/site_users.html", context, status=400)
    return render(request, "frontend/site_users.html", _users_context(request, new_link=link))


def _account(request, user_id) -> User:
    """The rule is asked before the id is looked up, so a refusal says nothing about which ids exist."""
    site_check(request.user, SiteAction.MANAGE_USERS)
    return get_object_or_404(User, pk=user_id)


def _user_page(request, target: User, *, status=200, **extra):
    context = {
        "target": target,
        "memberships": Membership.objects.filter(user=target).select_related("project").order_by("project__name"),
        "may_manage": account_allowed(request.user, target),
        "local_account": target.has_usable_password(),
        "email_configured": onboarding.email_configured(),
        "link_days": onboarding.link_lifetime_days(),
        "tokens_live": target.api_tokens.live().count(),
    }
    context.update(extra)
    return render(request, "frontend/site_user.html", context, status=status)


@never_cache
@login_required
def site_user(request, user_id):
    return _user_page(request, _account(request, user_id))


@login_required
@require_POST
def site_user_deactivate(request, user_id):
    target = _account(request, user_id)
    was_active = target.is_active
    revoked = accounts.deactivate_user(request.user, target)
    if was_active:
        done = f"Deactivated {target.username}: signed out everywhere, {revoked} API token(s) revoked."
        messages.success(request, done)
    else:
        messages.info(request, f"{target.username} was already deactivated.")
    return redirect("frontend:site-user", user_id=target.pk)


@login_required
@require_POST
def site_user_reactivate(request, user_id):
    target = _account(request, user_id)
    if accounts.reactivate_user(request.user, target):
        messages.success(request, f"Reactivated {target.username}. Their old API tokens stay revoked.")
    else:
        messages.info(request, f"{target.username} was already active.")
    return redirect("frontend:site-user", user_id=target.pk)


@never_cache
@login_required
@require_POST
def site_user_reset(request, user_id):
    """A new set-password link, shown once on the account's page (and mailed when e-mail is configured)."""
    target = _account(request, user_id)
    try:
        link = onboarding.reset_user(request.user, target, base_url=_base_url(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _user_page(request, target, status=400)
    target.refresh_from_db()
    return _user_page(request, target, new_link=link)


# --- Bulk onboarding of a project's members -----------------------------------------------------------------


def _uploaded_csv(request) -> bytes:
    """The CSV's bytes from the file field, or from the pasted text; the size is checked before reading."""
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size > onboarding.MAX_CSV_BYTES:
            raise ValidationError(f"The file is larger than {onboarding.MAX_CSV_BYTES // 1024:,} KB; split it.")
        return upload.read(onboarding.MAX_CSV_BYTES + 1)
    text = request.POST.get("text", "")
    if not text.strip():
        raise ValidationError("Choose a CSV file, or paste its rows.")
    return text.encode()


def _counts(rows) -> dict[str, int]:
    counts = {action.value: 0 for action in onboarding.RowAction}
    for row in rows:
        counts[row.action.value] += 1
    return counts


@never_cache
@login_required
def members_import(request, slug):
    """GET the upload form; POST a file (or pasted rows) for a preview, then POST the signed preview to apply it.
    Project admins may add existing accounts; creating accounts also needs a site admin."""
    project = get_project(request.user, slug, Action.MANAGE_MEMBERS)
    context = {
        "project": project,
        "stage": "upload",
        "may_create": site_allowed(request.user, SiteAction.MANAGE_USERS),
        "max_kb": onboarding.MAX_CSV_BYTES // 1024,
        "max_rows": onboarding.MAX_CSV_ROWS,
        "email_configured": onboarding.email_configured(),
        "link_days": onboarding.link_lifetime_days(),
    }
    if request.method != "POST":
        return render(request, "frontend/site_onboard.html", context)
    try:
        if "payload" in request.POST:
            data = onboarding.unsign_member_csv(request.user, project, request.POST["payload"])
            rows = onboarding.import_member_csv(request.user, project, data, base_url=_base_url(request))
            context.update(stage="result", rows=rows, links=[row.link for row in rows if row.link is not None])
        else:
            data = _uploaded_csv(request)
            rows = onboarding.preview_member_csv(request.user, project, data)
            context.update(stage="preview", rows=rows, payload=onboarding.sign_member_csv(request.user, project, data))
    except ValidationError as exc:
        context["error"] = " ".join(exc.messages)
        return render(request, "frontend/site_onboard.html", context, status=400)
    context["counts"] = _counts(rows)
    context["actionable"] = any(row.action not in ("error", "unchanged") for row in rows)
    return render(request, "frontend/site_onboard.html", context)


# --- The set-password page ----------------------------------------------------------------------------------


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def set_password(request, uidb64, token):
    """Anonymous: a valid one-time link shows the form; a used, replaced or expired one says so (400)."""
    target = onboarding.user_for_link(uidb64, token)
    if target is None:
        return render(request, "frontend/set_password.html", {"invalid": True}, status=400)
    errors = {}
    if request.method == "POST":
        new1, new2 = request.POST.get("new_password1", ""), request.POST.get("new_password2", "")
        if new1 != new2:
            errors["new_password2"] = "The two passwords differ."
        else:
            try:
                onboarding.set_password_from_link(uidb64, token, new1)
            except ValidationError as exc:
                if "link" in getattr(exc, "error_dict", {}):
                    return render(request, "frontend/set_password.html", {"invalid": True}, status=400)
                errors["new_password1"] = " ".join(exc.messages)
            else:
                messages.success(request, f"Your password is set, {target.username}. Log in with it.")
                return redirect("frontend:login")
    context = {"target": target, "errors": errors}
    return render(request, "frontend/set_password.html", context, status=400 if errors else 200)
