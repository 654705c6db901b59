"""API routes of the curation app, mounted under /api/."""

from django.urls import path, re_path

from labeling import api as labeling_api
from labeling.review import api as review_api
from labeling.review import mask_api
from nlp import api as nlp_api

from . import account_views, dataset_views, redaction_views, study_views, views

urlpatterns = [
    path("auth/token/", account_views.TokenView.as_view(), name="api-token"),
    path("auth/tokens/", account_views.TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/", account_views.TokenDetailView.as_view(), name="api-token-detail"),
    path("auth/lockouts/reset/", account_views.LockoutResetView.as_view(), name="api-lockout-reset"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("projects/", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", views.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<slug:slug>/members/", views.MemberListView.as_view(), name="api-members"),
    path("projects/<slug:slug>/members/<str:username>/", views.MemberDetailView.as_view(), name="api-member"),
    path("projects/<slug:slug>/job-kinds/", views.JobKindListView.as_view(), name="api-job-kinds"),
    path("projects/<slug:slug>/jobs/", views.JobListView.as_view(), name="api-jobs"),
    path("projects/<slug:slug>/jobs/<int:job_id>/", views.JobDetailView.as_view(), name="api-job"),
    path("projects/<slug:slug>/jobs/<int:job_id>/cancel/", views.JobCancelView.as_view(), name="api-job-cancel"),
    path("projects/<slug:slug>/jobs/<int:job_id>/rerun/", views.JobRerunView.as_view(), name="api-job-rerun"),
    path("projects/<slug:slug>/audit/", views.AuditListView.as_view(), name="api-audit"),
    path("projects/<slug:slug>/imports/", study_views.ImportView.as_view(), name="api-imports"),
    path("projects/<slug:slug>/studies/", study_views.StudyListView.as_view(), name="api-studies"),
    path("projects/<slug:slug>/studies/<int:study_id>/", study_views.StudyDetailView.as_view(), name="api-study"),
    path("projects/<slug:slug>/patients/<str:pseudo_id>/", study_views.PatientDetailView.as_view(), name="api-patient"),
    re_path(
        r"^projects/(?P<slug>[-\w]+)/images/(?P<image_id>\d+)/(?P<which>display|display16|thumbnail)/$",
        study_views.ImageFileView.as_view(),
        name="image-file",
    ),
    path(
        "projects/<slug:slug>/images/<int:image_id>/flag-burned-in/",
        redaction_views.FlagBurnedInView.as_view(),
        name="api-image-flag-burned-in",
    ),
    path(
        "projects/<slug:slug>/images/<int:image_id>/redact/",
        redaction_views.RedactView.as_view(),
        name="api-image-redact",
    ),
    path("projects/<slug:slug>/pseudonyms/", study_views.PseudonymListView.as_view(), name="api-pseudonyms"),
    path("projects/<slug:slug>/datasets/versions/", dataset_views.VersionListView.as_view(), name="api-versions"),
    path(
        "projects/<slug:slug>/datasets/versions/<int:version_id>/",
        dataset_views.VersionDetailView.as_view(),
        name="api-version",
    ),
    path(
        "projects/<slug:slug>/datasets/versions/<int:version_id>/compare/<int:other_id>/",
        dataset_views.VersionCompareView.as_view(),
        name="api-version-compare",
    ),
    path(
        "projects/<slug:slug>/exports/<int:job_id>/link/",
        dataset_views.ExportLinkView.as_view(),
        name="api-export-link",
    ),
    path(
        "projects/<slug:slug>/exports/<int:job_id>/download/",
        dataset_views.ExportDownloadView.as_view(),
        name="api-export-download",
    ),
    path("projects/<slug:slug>/labeling-runs/", nlp_api.RunListView.as_view(), name="api-runs"),
    path("projects/<slug:slug>/labeling-runs/<int:run_id>/", nlp_api.RunDetailView.as_view(), name="api-run"),
    path(
        "projects/<slug:slug>/labeling-runs/<int:run_id>/labels/",
        nlp_api.RunLabelListView.as_view(),
        name="api-run-labels",
    ),
    path("projects/<slug:slug>/vocabulary/", nlp_api.VocabularyView.as_view(), name="api-vocabulary"),
    path("projects/<slug:slug>/qc-results/", labeling_api.QcResultListView.as_view(), name="api-qc-results"),
    path("projects/<slug:slug>/images/<int:image_id>/masks/", labeling_api.ImageMasksView.as_view(), name="api-masks"),
    path("projects/<slug:slug>/reference-banks/", labeling_api.BankListView.as_view(), name="api-banks"),
    path(
        "projects/<slug:slug>/masks/export/chexmask.csv",
        labeling_api.ChexmaskExportView.as_view(),
        name="api-masks-export",
    ),
    path("projects/<slug:slug>/masks/export/coco.json", labeling_api.CocoExportView.as_view(), name="api-masks-coco"),
    path("projects/<slug:slug>/review/<str:kind>/next/", review_api.NextItemView.as_view(), name="api-review-next"),
    path("projects/<slug:slug>/review/items/<int:item_id>/", review_api.ItemView.as_view(), name="api-review-item"),
    path(
        "projects/<slug:slug>/review/<str:kind>/items/<int:item_id>/claim/",
        review_api.ClaimItemView.as_view(),
        name="api-review-claim",
    ),
    path(
        "projects/<slug:slug>/review/items/<int:item_id>/decide/",
        review_api.DecideView.as_view(),
        name="api-review-decide",
    ),
    path(
        "projects/<slug:slug>/review/items/<int:item_id>/skip/", review_api.SkipView.as_view(), name="api-review-skip"
    ),
    path(
        "projects/<slug:slug>/review/items/<int:item_id>/renew/",
        review_api.RenewView.as_view(),
        name="api-review-renew",
    ),
    path(
        "projects/<slug:slug>/review/items/<int:item_id>/send-back/",
        review_api.SendBackView.as_view(),
        name="api-review-send-back",
    ),
    path(
        "projects/<slug:slug>/review/items/<int:item_id>/adjudicate/",
        review_api.AdjudicateView.as_view(),
        name="api-review-adjudicate",
    ),
    path("projects/<slug:slug>/review/agreement/", review_api.AgreementView.as_view(), name="api-review-agreement"),
    path(
        "projects/<slug:slug>/review/items/<int:item_id>/correct/",
        mask_api.CorrectView.as_view(),
        name="api-review-correct",
    ),
    path("projects/<slug:slug>/masks/<int:mask_id>/layer.png", mask_api.MaskLayerView.as_view(), name="api-mask-layer"),
]
