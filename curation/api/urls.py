"""API routes of the curation app, mounted under /api/."""

from django.urls import path

from . import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("projects/", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", views.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<slug:slug>/members/", views.MemberListView.as_view(), name="api-members"),
    path("projects/<slug:slug>/members/<str:username>/", views.MemberDetailView.as_view(), name="api-member"),
    path("projects/<slug:slug>/job-kinds/", views.JobKindListView.as_view(), name="api-job-kinds"),
    path("projects/<slug:slug>/jobs/", views.JobListView.as_view(), name="api-jobs"),
    path("projects/<slug:slug>/jobs/<int:job_id>/", views.JobDetailView.as_view(), name="api-job"),
    path("projects/<slug:slug>/jobs/<int:job_id>/cancel/", views.JobCancelView.as_view(), name="api-job-cancel"),
    path("projects/<slug:slug>/audit/", views.AuditListView.as_view(), name="api-audit"),
]
