"""One environment-driven settings module for every deployment.

Read the README's "Configuration" table for the variables. The embedded default (no variables
set except DJANGO_DEBUG=1) is SQLite under var/ with tasks run in-process.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set unless DJANGO_DEBUG=1.")
    # Only ever used with DEBUG on: a fixed dev key keeps sessions valid across restarts.
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "curation",
    "labeling",
    "nlp",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "curation.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a flagged sign-in lockout into the 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context.shell",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets the in-process job thread write while the web thread reads; IMMEDIATE avoids
    # "database is locked" upgrade deadlocks between the two.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "curation.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:project-list"
LOGOUT_REDIRECT_URL = "frontend:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

# Originals, renderings, masks and exports go through the storage API so that web and workers
# on several machines share them. AWS_STORAGE_BUCKET_NAME switches to S3-compatible storage.
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
# Without a broker the app runs every task in-process (the embedded default). Job state lives
# in database rows, so Celery's result backend is not needed.
JOBS_IN_PROCESS = not CELERY_BROKER_URL
# In-process jobs started from a web request run on a background thread so the page can show
# live progress; set 0 to run them synchronously (tests, management commands).
JOBS_IN_PROCESS_THREAD = env_bool("JOBS_IN_PROCESS_THREAD", True)
# The study list's first query plan gets this long (PostgreSQL) before the list is read again from the filter
# index (curation.services.studies.within_plan_budget); 0 turns the fallback off.
STUDY_LIST_PLAN_BUDGET_MS = int(os.environ.get("STUDY_LIST_PLAN_BUDGET_MS", 30))
CELERY_TASK_ALWAYS_EAGER = JOBS_IN_PROCESS
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis redelivers a message nobody acknowledged after this long; every task's time limit stays below it
# (a system check says so), and a job's claim refuses a second runner while the first one's heartbeat is fresh.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 7 * 3600))}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that anonymous API calls get 401 with a WWW-Authenticate header.
        "curation.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested more than 64 deep is a 400 (curation.api.parsers), not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "curation.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # The browsable API for people signed in with their session; it hides the forms they may not use.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "curation.api.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "curation.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "curation.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CXR Curator API",
    "DESCRIPTION": "Chest X-ray studies, reports, labels, masks, review queues and dataset exports.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security (production values unless DEBUG) ----------------------------------------------
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = ["security.W021"] if not SECURE_HSTS_PRELOAD else []

# --- Sign-in, API tokens and Content-Security-Policy -------------------------------------------
# Failed sign-ins (login page and POST /api/auth/token/) are counted in the database by django-axes, per
# account and client address, and per account from anywhere; see curation/signin.py and the README.
#
# Hospital sign-in, each optional and set from the environment (README "Hospital sign-in"): an LDAP / Active
# Directory server, an OpenID Connect provider, and local passwords (on unless LOCAL_PASSWORDS=0). Directory
# groups become project roles at each sign-in (curation/directory.py).
LOCAL_PASSWORDS = env_bool("LOCAL_PASSWORDS", True)
# --- LDAP (curation/ldap_auth.py) ---
LDAP_ENABLED = bool(os.environ.get("LDAP_SERVER_URI", "").strip())
# Group → project roles (JSON, curation.directory.parse_group_roles). It needs the models to be parsed, so the
# system check curation.E110 (and every sign-in) parses it; the other values are checked here, at startup.
LDAP_GROUP_ROLES = os.environ.get("LDAP_GROUP_ROLES", "")


def ldap_settings_from_env(environ) -> dict:
    """django-auth-ldap's AUTH_LDAP_* settings (and LDAP_USERNAME_ATTR) from the LDAP_* variables; raises
    ImproperlyConfigured for a value it cannot use. A function so the sign-in tests build their settings as a
    deployment does."""
    import re

    import ldap
    from django_auth_ldap import config as ldap_config

    def get(name: str, default: str = "") -> str:
        return (environ.get(name) or default).strip()

    # name → (django-auth-ldap group type, the filter that finds such groups)
    group_types = {
        "groupofnames": (ldap_config.GroupOfNamesType, "(objectClass=groupOfNames)"),
        "nestedgroupofnames": (ldap_config.NestedGroupOfNamesType, "(objectClass=groupOfNames)"),
        "groupofuniquenames": (ldap_config.GroupOfUniqueNamesType, "(objectClass=groupOfUniqueNames)"),
        "posixgroup": (ldap_config.PosixGroupType, "(objectClass=posixGroup)"),
        "activedirectory": (ldap_config.ActiveDirectoryGroupType, "(objectClass=group)"),
        "nestedactivedirectory": (ldap_config.NestedActiveDirectoryGroupType, "(objectClass=group)"),
    }
    user_base = get("LDAP_USER_SEARCH_BASE")
    if not user_base:
        raise ImproperlyConfigured("LDAP_USER_SEARCH_BASE must be set with LDAP_SERVER_URI (e.g. ou=people,dc=x).")
    user_filter = get("LDAP_USER_FILTER", "(uid=%(user)s)")
    try:
        user_filter % {"user": "x"}  # noqa: B018 -- a stray % would otherwise fail at the first sign-in
    except (KeyError, ValueError, TypeError):
        raise ImproperlyConfigured("LDAP_USER_FILTER may hold no % other than %(user)s.") from None
    if "%(user)s" not in user_filter or not (user_filter.startswith("(") and user_filter.endswith(")")):
        raise ImproperlyConfigured('LDAP_USER_FILTER must be a filter naming %(user)s, e.g. "(uid=%(user)s)".')
    # The Django username is this attribute's value in the directory, not what was typed: LDAP matching ignores
    # case and extra spaces, so two spellings must not make two accounts.
    named = re.search(r"\(([A-Za-z][\w-]*)=%\(user\)s\)", user_filter)
    username_attr = get("LDAP_USERNAME_ATTR") or (named.group(1) if named else "")
    if not username_attr:
        raise ImproperlyConfigured("LDAP_USERNAME_ATTR must be set when LDAP_USER_FILTER has no (attr=%(user)s).")
    type_name = get("LDAP_GROUP_TYPE", "groupOfNames")
    if type_name.lower() not in group_types:
        raise ImproperlyConfigured(
            f"LDAP_GROUP_TYPE {type_name!r} is not one of: groupOfNames, nestedGroupOfNames, groupOfUniqueNames, "
            "posixGroup, activeDirectory, nestedActiveDirectory."
        )
    group_type, group_filter = group_types[type_name.lower()]
    group_base = get("LDAP_GROUP_SEARCH_BASE")
    require_group = get("LDAP_REQUIRE_GROUP") or None
    if not group_base and (require_group or get("LDAP_GROUP_ROLES")):
        raise ImproperlyConfigured("LDAP_GROUP_ROLES and LDAP_REQUIRE_GROUP need LDAP_GROUP_SEARCH_BASE.")
    try:
        timeout = float(get("LDAP_TIMEOUT_SECONDS", "5"))
    except ValueError:
        timeout = 0
    if not 0 < timeout <= 120:
        raise ImproperlyConfigured("LDAP_TIMEOUT_SECONDS must be a number of seconds between 0 and 120.")
    # A dead or silent server must not hang a sign-in: a bound on connecting and on every answer. Referrals off:
    # Active Directory answers searches at the domain root with referrals the bind cannot follow.
    options = {ldap.OPT_NETWORK_TIMEOUT: timeout, ldap.OPT_TIMEOUT: timeout, ldap.OPT_REFERRALS: 0}
    start_tls = get("LDAP_START_TLS").lower() in {"1", "true", "yes", "on"}
    if start_tls or get("LDAP_SERVER_URI").lower().startswith("ldaps:") or get("LDAP_TLS_CA_FILE"):
        # The server's certificate is always verified, whatever /etc/ldap/ldap.conf says.
        if get("LDAP_TLS_CA_FILE"):
            options[ldap.OPT_X_TLS_CACERTFILE] = get("LDAP_TLS_CA_FILE")
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: applies the TLS options above to this connection
    fields = {
        "first_name": get("LDAP_ATTR_FIRST_NAME", "givenName"),
        "last_name": get("LDAP_ATTR_LAST_NAME", "sn"),
        "email": get("LDAP_ATTR_EMAIL", "mail"),
        "display_name": get("LDAP_ATTR_DISPLAY_NAME", "displayName"),
    }
    return {
        "AUTH_LDAP_SERVER_URI": get("LDAP_SERVER_URI"),
        "AUTH_LDAP_BIND_DN": get("LDAP_BIND_DN"),
        "AUTH_LDAP_BIND_PASSWORD": environ.get("LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_START_TLS": start_tls,
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_USER_SEARCH": ldap_config.LDAPSearch(user_base, ldap.SCOPE_SUBTREE, user_filter),
        "AUTH_LDAP_USER_ATTR_MAP": {field: attr for field, attr in fields.items() if attr},
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_GROUP_TYPE": group_type(),
        "AUTH_LDAP_GROUP_SEARCH": (
            ldap_config.LDAPSearch(group_base, ldap.SCOPE_SUBTREE, get("LDAP_GROUP_FILTER", group_filter))
            if group_base
            else None
        ),
        "AUTH_LDAP_REQUIRE_GROUP": require_group,
        "LDAP_USERNAME_ATTR": username_attr,
    }


if LDAP_ENABLED:
    globals().update(ldap_settings_from_env(os.environ))
# --- OpenID Connect (curation/oidc_auth.py) ---
OIDC_ENABLED = bool(os.environ.get("OIDC_RP_CLIENT_ID", "").strip())
OIDC_SIGN_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "HS256")


def oidc_settings_from_env(environ, debug: bool = False) -> dict:
    """mozilla-django-oidc's OIDC_* settings from the OIDC_* variables; raises ImproperlyConfigured for a value
    it cannot use when OIDC_RP_CLIENT_ID is set. A function so the sign-in tests build their settings as a
    deployment does. The provider's endpoints come from OIDC_OP_DISCOVERY_URL, fetched at the first sign-in
    (never here: the site must start while the provider is down), or from the explicit OIDC_OP_*_ENDPOINT
    variables, which win over the document."""
    from urllib.parse import urlsplit

    def get(name: str, default: str = "") -> str:
        return (environ.get(name) or "").strip() or default

    urls = ("DISCOVERY_URL", "AUTHORIZATION_ENDPOINT", "TOKEN_ENDPOINT", "USER_ENDPOINT", "JWKS_ENDPOINT", "ISSUER")
    values = {
        "OIDC_RP_CLIENT_ID": get("OIDC_RP_CLIENT_ID"),
        "OIDC_RP_CLIENT_SECRET": get("OIDC_RP_CLIENT_SECRET"),
        **{f"OIDC_OP_{name}": get(f"OIDC_OP_{name}") for name in urls},
        "OIDC_RP_SIGN_ALGO": get("OIDC_RP_SIGN_ALGO", "RS256"),
        "OIDC_RP_SCOPES": " ".join(get("OIDC_RP_SCOPES", "openid email profile").split()),
        # PKCE always: a code intercepted on its way back is useless without the verifier in our session.
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_USE_NONCE": True,
        "OIDC_USERNAME_CLAIM": get("OIDC_USERNAME_CLAIM", "preferred_username"),
        "OIDC_GROUPS_CLAIM": get("OIDC_GROUPS_CLAIM", "groups"),
        # Group → project roles (JSON, curation.directory.parse_group_roles). It needs the models to be parsed, so
        # the system check curation.E120, config/urls.py when it mounts /oidc/, and every sign-in parse it.
        "OIDC_GROUP_ROLES": environ.get("OIDC_GROUP_ROLES", ""),
        "OIDC_CREATE_USER": get("OIDC_CREATE_USERS", "1").lower() in {"1", "true", "yes", "on"},
        "OIDC_LINK_LOCAL_ACCOUNTS": get("OIDC_LINK_LOCAL_ACCOUNTS").lower() in {"1", "true", "yes", "on"},
        "OIDC_PROVIDER_NAME": " ".join(get("OIDC_PROVIDER_NAME", "your hospital account").split())[:60],
        "OIDC_VERIFY_SSL": get("OIDC_CA_BUNDLE") or True,  # a CA bundle file, for a hospital's own CA; never off
        "OIDC_AUTHENTICATE_CLASS": "curation.oidc_auth.AuthenticateView",
        "OIDC_CALLBACK_CLASS": "curation.oidc_auth.CallbackView",
        # django-axes counts password guesses per account; the provider's answers name no account, so they are
        # not counted (else a few refusals would lock a whole hospital gateway out of provider sign-in).
        "AXES_WHITELIST_CALLABLE": "curation.oidc_auth.is_provider_answer" if get("OIDC_RP_CLIENT_ID") else None,
    }
    try:
        values["OIDC_TIMEOUT"] = float(get("OIDC_TIMEOUT_SECONDS", "10"))  # each call to the provider
    except ValueError:
        values["OIDC_TIMEOUT"] = 0
    if not values["OIDC_RP_CLIENT_ID"]:
        return values
    if not 0 < values["OIDC_TIMEOUT"] <= 120:
        raise ImproperlyConfigured("OIDC_TIMEOUT_SECONDS must be a number of seconds between 0 and 120.")
    algo = values["OIDC_RP_SIGN_ALGO"]
    if algo not in OIDC_SIGN_ALGORITHMS:
        raise ImproperlyConfigured(f"OIDC_RP_SIGN_ALGO must be one of {', '.join(OIDC_SIGN_ALGORITHMS)}, not {algo!r}.")
    if algo == "HS256" and not values["OIDC_RP_CLIENT_SECRET"]:
        raise ImproperlyConfigured("OIDC_RP_SIGN_ALGO=HS256 signs with the client secret: set OIDC_RP_CLIENT_SECRET.")
    if "openid" not in values["OIDC_RP_SCOPES"].split():
        raise ImproperlyConfigured('OIDC_RP_SCOPES must include "openid".')
    needed = ["AUTHORIZATION_ENDPOINT", "TOKEN_ENDPOINT", "USER_ENDPOINT"]
    if algo != "HS256":
        needed.append("JWKS_ENDPOINT")  # the provider's public keys check the ID token's signature
    missing = [f"OIDC_OP_{name}" for name in needed if not values[f"OIDC_OP_{name}"]]
    if missing and not values["OIDC_OP_DISCOVERY_URL"]:
        raise ImproperlyConfigured(
            f"OpenID Connect sign-in (OIDC_RP_CLIENT_ID) needs OIDC_OP_DISCOVERY_URL or {', '.join(missing)}."
        )
    for name in urls:
        url = values[f"OIDC_OP_{name}"]
        parts = urlsplit(url)
        plain_ok = debug or parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if url and not (parts.hostname and (parts.scheme == "https" or (parts.scheme == "http" and plain_ok))):
            raise ImproperlyConfigured(
                f"OIDC_OP_{name} must be an https:// URL (http:// only on a loopback address or with "
                f"DJANGO_DEBUG=1), not {url!r}."
            )
    if values["OIDC_VERIFY_SSL"] is not True and not os.path.isfile(values["OIDC_VERIFY_SSL"]):
        raise ImproperlyConfigured(f"OIDC_CA_BUNDLE names no file: {values['OIDC_VERIFY_SSL']!r}.")
    return values


globals().update(oidc_settings_from_env(os.environ, DEBUG))
# --- end of hospital sign-in ---
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out attempt before the password is checked
    *(["curation.ldap_auth.DirectoryLDAPBackend"] if LDAP_ENABLED else []),
    *(["curation.oidc_auth.DirectoryOIDCBackend"] if OIDC_ENABLED else []),
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_PASSWORDS else []),
]
AXES_HANDLER = "curation.signin.TieredDatabaseHandler"
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", 5))  # per account and client address
AXES_ACCOUNT_FAILURE_LIMIT = int(os.environ.get("AXES_ACCOUNT_FAILURE_LIMIT", 20))  # per account, any address
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a success clears that client's own failures, never other addresses' counts
AXES_CLIENT_IP_CALLABLE = "curation.signin.client_ip"
AXES_LOCKOUT_CALLABLE = "curation.signin.lockout_response"
# Masked in the attempt records and logs axes keeps (it stores the POST body of a failure): the password page's
# fields too, whose wrong-old-password failures are counted.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "old_password", "new_password1", "new_password2"]
# Only a proxy we run may name the client: X-Forwarded-For is read only with DJANGO_BEHIND_PROXY=1, taking the
# entry DJANGO_PROXY_COUNT places from the right (the one our outermost proxy appended).
SIGNIN_BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY")
SIGNIN_PROXY_COUNT = int(os.environ.get("DJANGO_PROXY_COUNT", 1))

# No inline script or style anywhere; /api/docs/ (Swagger UI) loads its init script from a URL and only adds
# inline style (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}

# --- E-mail ---------------------------------------------------------------------------------
# Only set-password links for new and reset accounts are mailed, and only when EMAIL_HOST is set; the link is
# always shown to the admin as well. Without EMAIL_HOST nothing is ever sent (the dummy backend drops it).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
EMAIL_ENABLED = bool(EMAIL_HOST)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_ENABLED else "django.core.mail.backends.dummy.EmailBackend"
)
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", 10))  # seconds: a dead mail server must not hang the page
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "cxr-curator@localhost")

# --- Import ---------------------------------------------------------------------------------
# Server-side folders that admins may import from (comma-separated). Every worker must see them at
# the same path (a shared mount); uploads go through storage instead.
IMPORT_ALLOWED_ROOTS = env_list("IMPORT_ALLOWED_ROOTS")
IMPORT_MAX_UPLOAD_BYTES = int(os.environ.get("IMPORT_MAX_UPLOAD_BYTES", 4 * 1024**3))
# An uploaded archive holds raw PHI: it is deleted when its import succeeds; after a failure it is kept
# this long so the job can be re-run, then deleted.
IMPORT_KEEP_FAILED_UPLOADS_HOURS = float(os.environ.get("IMPORT_KEEP_FAILED_UPLOADS_HOURS", 24))
# Size limits on job parameters (the mapping of a generic CSV, thresholds, names): a job row and its
# audit event must stay small whatever a client sends.
JOB_PARAMS_MAX_BYTES = int(os.environ.get("JOB_PARAMS_MAX_BYTES", 16 * 1024))
IMPORT_MAX_FILE_BYTES = int(os.environ.get("IMPORT_MAX_FILE_BYTES", 512 * 1024**2))
IMPORT_ZIP_LIMITS = {
    "max_members": int(os.environ.get("IMPORT_ZIP_MAX_MEMBERS", 200_000)),
    "max_total_bytes": int(os.environ.get("IMPORT_ZIP_MAX_TOTAL_BYTES", 20 * 1024**3)),
    "max_member_bytes": IMPORT_MAX_FILE_BYTES,
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# DICOM files per transaction: a worker killed mid-import loses at most this many, redone on re-run.
IMPORT_DICOM_BATCH = int(os.environ.get("IMPORT_DICOM_BATCH", 100))

# --- Limits ---------------------------------------------------------------------------------
JOB_ERROR_LIMIT = 200  # errors kept per job row; the total is still counted
# A queued/running job whose row has not changed for this long may be re-run (its worker is gone).
JOB_STALE_SECONDS = int(os.environ.get("JOB_STALE_SECONDS", 300))
# A running job (or chunk) beats its heartbeat this often, even inside a long item.
JOB_HEARTBEAT_SECONDS = int(os.environ.get("JOB_HEARTBEAT_SECONDS", 30))
# Passing database or storage errors: a job or chunk is tried this many times, waiting base × 2^n seconds.
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", 4))
JOB_RETRY_BASE_DELAY = int(os.environ.get("JOB_RETRY_BASE_DELAY", 10))
JOB_RETRY_MAX_DELAY = int(os.environ.get("JOB_RETRY_MAX_DELAY", 600))
# Items per chunk of a fanned-out job (QC, mining, rendering): small enough to spread over workers and
# to retry cheaply, large enough that the per-chunk overhead stays small.
JOB_CHUNK_ITEMS = int(os.environ.get("JOB_CHUNK_ITEMS", 500))
# A reader's claim on a review item lasts this long without activity; any action renews it.
REVIEW_LEASE_SECONDS = int(os.environ.get("REVIEW_LEASE_SECONDS", 600))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Input limits (issue 9) ------------------------------------------------------------------
# Pixel counts, checked from headers before anything is decoded or allocated: a few hundred bytes can
# claim a 30000² image or a 200000² mask. Over the limit is a per-item error; the rest of the job goes on.
# Images: DICOM rows x columns x frames, PNG/JPEG width x height (100 MP is 10000², a chest film is ~9 MP).
IMAGE_MAX_PIXELS = int(os.environ.get("IMAGE_MAX_PIXELS", 100_000_000))
# Imported masks (CheXmask and COCO RLE, polygons, label and organ PNGs): height x width.
MASK_MAX_PIXELS = int(os.environ.get("MASK_MAX_PIXELS", 50_000_000))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
