"""The browsable API (DRF's HTML renderer) for signed-in users browsing the API with their session.

DRF's renderer asks the view's permissions whether to draw each form (OPTIONS, POST, ...) and expects DRF's
own exceptions; curation.permissions raises Django's PermissionDenied and Http404 (what the HTML pages
need), which escaped the renderer and turned a readable GET into a bare 403. Here a refusal only hides
the form.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def get_rendered_html_form(self, data, view, method, request):
        try:
            return super().get_rendered_html_form(data, view, method, request)
        except (PermissionDenied, Http404):
            return None

    def get_raw_data_form(self, data, view, method, request):
        try:
            return super().get_raw_data_form(data, view, method, request)
        except (PermissionDenied, Http404):
            return None
