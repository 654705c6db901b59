"""Sign-in throttling with django-axes: the client address, the two-tier lockout rule and the 429 answer.

Both sign-in doors (the login page and POST /api/auth/token/) go through django.contrib.auth.authenticate,
so axes counts their failures in the database (shared by every web process).

The rule (README "Sign-in and tokens"):
- per account *and* client address: AXES_FAILURE_LIMIT failures (default 5) lock that account from that
  address. Other accounts at the same address (one hospital gateway) keep working, and so does the same
  account from elsewhere, so an attacker cannot lock a whole site out by guessing from one place;
- per account from anywhere: AXES_ACCOUNT_FAILURE_LIMIT failures (default 20) lock the account everywhere,
  so spreading guesses over many addresses buys an attacker only a few more tries per cool-off.
No rule locks an address as such: behind a gateway that would lock everyone out.
A lock ends AXES_COOLOFF_TIME after the last failure, or when staff reset it.
"""

from __future__ import annotations

import ipaddress

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_OUT_MESSAGE = (
    "Too many failed sign-in attempts for this account. Try again later or ask site staff to unlock it."
)


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind a proxy (DJANGO_BEHIND_PROXY=1) the X-Forwarded-For
    entry our own proxies added. Each of the DJANGO_PROXY_COUNT proxies appends what it saw, so that entry
    is the one `count` places from the right; anything left of it came from the client and may be forged."""
    if settings.SIGNIN_BEHIND_PROXY:
        forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        count = settings.SIGNIN_PROXY_COUNT
        if count >= 1 and len(forwarded) >= count:
            address = _valid_ip(forwarded[-count])
            if address:
                return address
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


def _failures(attempts) -> int:
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


class TieredDatabaseHandler(AxesDatabaseHandler):
    """The database handler, with the account-wide limit on top of the per account-and-address one.

    AXES_LOCKOUT_PARAMETERS is the per account-and-address pair, so a successful sign-in clears only that
    client's failures (AXES_RESET_ON_SUCCESS) and never an attacker's count from elsewhere."""

    def get_failures(self, request, credentials=None) -> int:
        per_client = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        if per_client >= limit:
            return per_client
        account = AccessAttempt.objects.filter(username=get_client_username(request, credentials))
        if settings.AXES_COOLOFF_TIME is not None:
            account = account.filter(attempt_time__gte=get_cool_off_threshold(request))
        if _failures(account) >= settings.AXES_ACCOUNT_FAILURE_LIMIT:
            return limit  # the account is locked everywhere: report it as at the limit
        return per_client


def clear_client_failures(request: HttpRequest, username: str) -> None:
    """After a successful API sign-in: what AXES_RESET_ON_SUCCESS does for the login page (which calls
    login(), the signal axes listens to). Clears only this client's failures for this account."""
    if settings.AXES_ENABLED and settings.AXES_RESET_ON_SUCCESS:
        AxesProxyHandler.update_request(request)
        AxesProxyHandler.get_implementation().reset_user_attempts(request, {"username": username})


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What a locked-out sign-in gets, even with the right password: 429, as JSON for the API and as the
    login page with a clear message for the web UI."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": LOCKED_OUT_MESSAGE, "code": "locked_out"}, status=429)
    from django.contrib.auth.forms import AuthenticationForm

    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    next_url = request.POST.get("next", "")  # LoginView checks it is safe before redirecting to it
    context = {"form": form, "locked_out": True, "locked_out_message": LOCKED_OUT_MESSAGE, "next": next_url}
    return render(request, "frontend/login.html", context, status=429)
