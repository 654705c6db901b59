"""API views: parse, ask curation.permissions, call a service, serialize. Nothing else."""

import django_filters
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied as DRFPermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import jobkinds
from ..models import AuditEvent, Job, JobStatus, Membership
from ..permissions import Action, ProjectPermission, can_create_projects, visible_projects
from ..services import jobs as job_services
from ..services import projects as project_services
from . import serializers as s


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.UserSerializer)
    def get(self, request):
        memberships = Membership.objects.filter(user=request.user).select_related("project")
        data = s.UserSerializer(request.user).data
        data["projects"] = [{"slug": m.project.slug, "name": m.project.name, "role": m.role} for m in memberships]
        return Response(data)


class ProjectListView(generics.ListCreateAPIView):
    """Projects you are a member of; staff may create one (and become its admin)."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.ProjectSerializer

    def get_queryset(self):
        return visible_projects(self.request.user)

    def create(self, request, *args, **kwargs):
        if not can_create_projects(request.user):
            raise DRFPermissionDenied("Only staff users may create projects.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_services.create_project(request.user, **serializer.validated_data)
        return Response(self.get_serializer(project).data, status=status.HTTP_201_CREATED)


class ProjectScopedMixin:
    permission_classes = [ProjectPermission]
    project = None  # set by ProjectPermission


class ProjectDetailView(ProjectScopedMixin, APIView):
    project_actions = {"GET": Action.VIEW_PROJECT, "PATCH": Action.CHANGE_PROJECT}

    @extend_schema(responses=s.ProjectSerializer)
    def get(self, request, slug):
        return Response(s.ProjectSerializer(self.project, context={"request": request}).data)

    @extend_schema(request=s.ProjectUpdateSerializer, responses=s.ProjectSerializer)
    def patch(self, request, slug):
        body = s.ProjectUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = project_services.update_project(request.user, self.project, **body.validated_data)
        return Response(s.ProjectSerializer(project, context={"request": request}).data)


class MemberListView(ProjectScopedMixin, generics.ListAPIView):
    project_actions = {"GET": Action.VIEW_MEMBERS, "POST": Action.MANAGE_MEMBERS}
    serializer_class = s.MembershipSerializer

    def get_queryset(self):
        return Membership.objects.filter(project=self.project).select_related("user")

    @extend_schema(request=s.MembershipWriteSerializer, responses=s.MembershipSerializer)
    def post(self, request, slug):
        body = s.MembershipWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(username=body.validated_data["username"]).first()
        if user is None:
            return Response({"username": ["No such user."]}, status=status.HTTP_400_BAD_REQUEST)
        membership = project_services.set_member(request.user, self.project, user, body.validated_data["role"])
        return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(ProjectScopedMixin, APIView):
    project_actions = {"PATCH": Action.MANAGE_MEMBERS, "DELETE": Action.MANAGE_MEMBERS}

    def _member(self, username):
        return get_object_or_404(
            Membership.objects.select_related("user"), project=self.project, user__username=username
        )

    @extend_schema(request=s.RoleSerializer, responses=s.MembershipSerializer)
    def patch(self, request, slug, username):
        body = s.RoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member = self._member(username)
        membership = project_services.set_member(request.user, self.project, member.user, body.validated_data["role"])
        return Response(s.MembershipSerializer(membership).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, slug, username):
        member = self._member(username)
        project_services.remove_member(request.user, self.project, member.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=JobStatus.choices)
    kind = django_filters.CharFilter(help_text="a job kind, e.g. ingest.import (the project's job-kinds/ lists them)")

    class Meta:
        model = Job
        fields = ["status", "kind"]


class JobKindListView(ProjectScopedMixin, APIView):
    """Job kinds you may start in this project."""

    project_actions = {"GET": Action.VIEW_JOBS}

    @extend_schema(responses=s.JobKindSerializer(many=True))
    def get(self, request, slug):
        kinds = jobkinds.startable(request.user, self.project)
        return Response(s.JobKindSerializer(kinds, many=True).data)


class JobListView(ProjectScopedMixin, generics.ListAPIView):
    """The project's jobs, newest first; POST starts one (the kind decides who may)."""

    project_actions = {"GET": Action.VIEW_JOBS, "POST": Action.VIEW_JOBS}
    serializer_class = s.JobSerializer
    filterset_class = JobFilter

    def get_queryset(self):
        return Job.objects.filter(project=self.project).select_related("created_by", "project")

    @extend_schema(request=s.JobStartSerializer, responses={201: s.JobSerializer})
    def post(self, request, slug):
        body = s.JobStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = job_services.start_job(
            request.user, self.project, body.validated_data["kind"], body.validated_data["params"]
        )
        return Response(s.JobSerializer(job, context={"request": request}).data, status=status.HTTP_201_CREATED)


class JobDetailView(ProjectScopedMixin, APIView):
    project_actions = {"GET": Action.VIEW_JOBS}

    @extend_schema(responses=s.JobSerializer)
    def get(self, request, slug, job_id):
        job = get_object_or_404(Job.objects.select_related("created_by", "project"), project=self.project, pk=job_id)
        return Response(s.JobSerializer(job, context={"request": request}).data)


class JobCancelView(ProjectScopedMixin, APIView):
    """Cancel a job: a queued one ends now, a running one stops at its next checkpoint."""

    # Members may ask; the service decides (admins, curators, or whoever started the job).
    project_actions = {"POST": Action.VIEW_JOBS}

    @extend_schema(request=None, responses=s.JobSerializer)
    def post(self, request, slug, job_id):
        job = get_object_or_404(Job.objects.select_related("project"), project=self.project, pk=job_id)
        job = job_services.cancel_job(request.user, job)
        return Response(s.JobSerializer(job, context={"request": request}).data)


class JobRerunView(ProjectScopedMixin, APIView):
    """Run a failed, cancelled or stalled (worker lost) job again as a new job; the work is idempotent."""

    project_actions = {"POST": Action.VIEW_JOBS}  # the job kind's start roles decide (service)

    @extend_schema(request=None, responses={201: s.JobSerializer})
    def post(self, request, slug, job_id):
        job = get_object_or_404(Job.objects.select_related("project"), project=self.project, pk=job_id)
        new, created = job_services.rerun_job(request.user, job)
        # Asking again returns the same new job (200): a double click never makes two.
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.JobSerializer(new, context={"request": request}).data, status=code)


class AuditListView(ProjectScopedMixin, generics.ListAPIView):
    project_actions = {"GET": Action.VIEW_AUDIT}
    serializer_class = s.AuditEventSerializer

    def get_queryset(self):
        return AuditEvent.objects.filter(project=self.project)
