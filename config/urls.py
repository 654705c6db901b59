"""Top-level URL routes: the web UI, the API with its schema and docs, and the operations admin."""

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Swagger UI under the site's CSP: the split view serves its init script from ?script= instead of inline
# (script-src stays 'self'); its page template still carries an inline <style> block, allowed on this page only.
api_docs = csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/", include("curation.api.urls")),
    path("ops/admin/", admin.site.urls),
    path("", include("frontend.urls")),
]

if settings.OIDC_ENABLED:
    # OpenID Connect sign-in (/oidc/authenticate/, /oidc/callback/, /oidc/logout/), mounted only when configured.
    # The group mapping is parsed here too, so `manage.py check` and `migrate` stop on a malformed one.
    from curation import oidc_auth

    oidc_auth.group_roles()
    urlpatterns.insert(-1, path("oidc/", include("mozilla_django_oidc.urls")))
