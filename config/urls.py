"""Top-level URL routes: the web UI, the API with its schema and docs, and the operations admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("curation.api.urls")),
    path("ops/admin/", admin.site.urls),
    path("", include("frontend.urls")),
]
