"""Web UI routes."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "frontend"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.project_list, name="project-list"),
    path("p/<slug:slug>/", views.project_dashboard, name="project-dashboard"),
    path("p/<slug:slug>/jobs/", views.job_list, name="job-list"),
    path("p/<slug:slug>/jobs/rows/", views.job_rows, name="job-rows"),
    path("p/<slug:slug>/jobs/start/", views.job_start, name="job-start"),
    path("p/<slug:slug>/jobs/<int:job_id>/", views.job_detail, name="job-detail"),
    path("p/<slug:slug>/jobs/<int:job_id>/cancel/", views.job_cancel, name="job-cancel"),
]
