"""Review queue API: thin views over labeling.review.queue and .services (permission checks and audit are there)."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.api.pagination import checked_id
from curation.api.views import ProjectScopedMixin
from curation.permissions import Action, action

from ..models import ReviewKind
from . import agreement, queue, services


class DecideSerializer(serializers.Serializer):
    payload = serializers.JSONField()
    seconds = serializers.FloatField(min_value=0, max_value=services.SECONDS_MAX, required=False, default=0)


class AdjudicateSerializer(serializers.Serializer):
    payload = serializers.JSONField()


class SendBackSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=services.COMMENT_MAX)


def _state(item, **extra) -> dict:
    return {"id": item.pk, "state": item.state, "round": item.round, **extra}


class NextItemView(ProjectScopedMixin, APIView):
    """Claim the next item of a queue (or get back the one you hold). 204 when the queue has nothing for you."""

    project_actions = {"POST": Action.REVIEW}

    @extend_schema(request=None, responses={200: OpenApiResponse(description="The item, blinded"), 204: None})
    def post(self, request, slug, kind):
        got = queue.next_item(request.user, self.project, queue.check_kind(kind))
        if got is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        view = services.item_view(request.user, self.project, got.item, claim=got.claim)
        view["resumed"] = got.resumed
        view["prefetch"] = services.peek_images(request.user, self.project, kind, got.item)
        return Response(view)


class ClaimItemView(ProjectScopedMixin, APIView):
    """Claim the item a link names (or get back your own claim on it). 409 with a stable `code` when you may
    not read it now; `adjudicate` links the adjudication page for those who may adjudicate a read item."""

    project_actions = {"POST": Action.REVIEW}

    @extend_schema(
        request=None,
        responses={200: OpenApiResponse(description="The item, blinded"), 409: OpenApiResponse(description="Why not")},
    )
    def post(self, request, slug, kind, item_id):
        try:
            got = queue.claim_item(request.user, self.project, checked_id(item_id), queue.check_kind(kind))
        except queue.ClaimRefused as refused:
            body = {"detail": str(refused), "code": refused.code, "id": refused.item.pk, "state": refused.item.state}
            if refused.item.state in services.REVEALED_STATES and action(Action.ADJUDICATE).allowed(
                request.user, self.project
            ):
                body["adjudicate"] = reverse("frontend:review-adjudicate", args=[slug, refused.item.pk])
            return Response(body, status=status.HTTP_409_CONFLICT)
        view = services.item_view(request.user, self.project, got.item, claim=got.claim)
        view["resumed"] = got.resumed
        return Response(view)


class ItemView(ProjectScopedMixin, APIView):
    """One item as the caller may see it: blinded until the round's reads are all in."""

    project_actions = {"GET": Action.REVIEW}

    @extend_schema(responses={200: OpenApiResponse(description="The item, blinded")})
    def get(self, request, slug, item_id):
        item = services.get_item(request.user, self.project, checked_id(item_id))
        return Response(services.item_view(request.user, self.project, item))


class DecideView(ProjectScopedMixin, APIView):
    """Record your read of an item you hold (again to amend it, until adjudication)."""

    project_actions = {"POST": Action.REVIEW}

    @extend_schema(request=DecideSerializer, responses={201: OpenApiResponse(description="The item's new state")})
    def post(self, request, slug, item_id):
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = services.decide(
            request.user,
            self.project,
            checked_id(item_id),
            body.validated_data["payload"],
            body.validated_data["seconds"],
        )
        return Response(_state(decision.item, decision=decision.pk), status=status.HTTP_201_CREATED)


class SkipView(ProjectScopedMixin, APIView):
    project_actions = {"POST": Action.REVIEW}

    @extend_schema(request=None, responses={200: OpenApiResponse(description="The claim was released")})
    def post(self, request, slug, item_id):
        claim = queue.skip(request.user, self.project, checked_id(item_id))
        return Response({"id": claim.item_id, "skipped": True})


class RenewView(ProjectScopedMixin, APIView):
    project_actions = {"POST": Action.REVIEW}

    @extend_schema(request=None, responses={200: OpenApiResponse(description="The new expiry")})
    def post(self, request, slug, item_id):
        claim = queue.renew(request.user, self.project, checked_id(item_id))
        return Response({"id": claim.item_id, "expires_at": claim.expires_at.isoformat()})


class SendBackView(ProjectScopedMixin, APIView):
    """Send an item back to its queue with a comment (curators, admins): a new round of reads."""

    project_actions = {"POST": Action.SEND_BACK}

    @extend_schema(request=SendBackSerializer, responses={200: OpenApiResponse(description="The item's new state")})
    def post(self, request, slug, item_id):
        body = SendBackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = services.send_back(request.user, self.project, checked_id(item_id), body.validated_data["comment"])
        return Response(_state(item))


class AdjudicateView(ProjectScopedMixin, APIView):
    """Settle disagreeing reads (curators, admins): the answer becomes final."""

    project_actions = {"POST": Action.ADJUDICATE}

    @extend_schema(request=AdjudicateSerializer, responses={201: OpenApiResponse(description="The item's new state")})
    def post(self, request, slug, item_id):
        body = AdjudicateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = services.adjudicate(request.user, self.project, checked_id(item_id), body.validated_data["payload"])
        return Response(_state(decision.item, decision=decision.pk), status=status.HTTP_201_CREATED)


class AgreementView(ProjectScopedMixin, APIView):
    """Cohen's kappa per label and reader pair, Krippendorff's alpha, agreement with the final answer, speed."""

    project_actions = {"GET": Action.VIEW_LABELS}

    @extend_schema(responses={200: OpenApiResponse(description="Agreement figures")})
    def get(self, request, slug):
        kind = request.query_params.get("kind", ReviewKind.LABEL)
        return Response(agreement.agreement_report(self.project, queue.check_kind(kind)))
