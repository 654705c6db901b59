"""Account screens: your API tokens (list, create, revoke) and your password. Per user, not per project."""

from django.contrib import messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from curation.services import accounts


def _tokens_context(request, **extra) -> dict:
    tokens = list(accounts.user_tokens(request.user)[:200])
    context = {"tokens": [(t, accounts.token_state(t)) for t in tokens], "form_values": {}, "errors": {}}
    context.update(extra)
    return context


@never_cache
@login_required
def tokens_page(request):
    """GET lists your tokens; POST creates one and shows its key once (never stored, so never again)."""
    if request.method != "POST":
        return render(request, "frontend/account_tokens.html", _tokens_context(request))
    name, days = request.POST.get("name", ""), request.POST.get("expires_in_days", "").strip()
    try:
        token, key = accounts.create_token(request.user, name=name, expires_in_days=days or None)
    except ValidationError as exc:
        errors = {field: "; ".join(msgs) for field, msgs in exc.message_dict.items()}
        context = _tokens_context(request, errors=errors, form_values={"name": name, "expires_in_days": days})
        return render(request, "frontend/account_tokens.html", context, status=400)
    return render(request, "frontend/account_tokens.html", _tokens_context(request, new_token=token, new_key=key))


@login_required
@require_POST
def token_revoke(request, token_id):
    token = get_object_or_404(accounts.user_tokens(request.user), pk=token_id)
    accounts.revoke_token(request.user, token)
    messages.success(request, f"Revoked token “{token.name}” ({token.prefix}…).")
    return redirect("frontend:account-tokens")


@login_required
def password_page(request):
    """Change your own password (local accounts); every API token of yours is revoked with it."""
    errors = {}
    if request.method == "POST":
        old = request.POST.get("old_password", "")
        new1, new2 = request.POST.get("new_password1", ""), request.POST.get("new_password2", "")
        # authenticate() rather than a bare password check, so guessing the old password from a stolen
        # session counts towards the sign-in lockout like any other guess.
        if authenticate(request, username=request.user.get_username(), password=old) is None:
            errors["old_password"] = "Your old password was entered incorrectly."  # noqa: S105
        elif new1 != new2:
            errors["new_password2"] = "The two new passwords differ."
        else:
            try:
                revoked = accounts.change_password(request.user, request.user, new1, old_password=old)
            except ValidationError as exc:
                by_field = exc.message_dict if hasattr(exc, "error_dict") else {"new_password1": exc.messages}
                errors = {field: " ".join(msgs) for field, msgs in by_field.items()}
            else:
                update_session_auth_hash(request, request.user)  # keep this session signed in
                messages.success(request, f"Password changed. {revoked} API token(s) revoked.")
                return redirect("frontend:account-password")
    context = {"errors": errors, "local_account": request.user.has_usable_password()}
    return render(request, "frontend/account_password.html", context, status=400 if errors else 200)
