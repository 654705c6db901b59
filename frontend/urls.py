"""Web UI routes."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import account_views, dataset_views, label_views, mask_views, redaction_views, review_views, study_views, views

app_name = "frontend"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", account_views.tokens_page, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke/", account_views.token_revoke, name="account-token-revoke"),
    path("account/password/", account_views.password_page, name="account-password"),
    path("", views.project_list, name="project-list"),
    path("p/<slug:slug>/", views.project_dashboard, name="project-dashboard"),
    path("p/<slug:slug>/jobs/", views.job_list, name="job-list"),
    path("p/<slug:slug>/jobs/rows/", views.job_rows, name="job-rows"),
    path("p/<slug:slug>/jobs/start/", views.job_start, name="job-start"),
    path("p/<slug:slug>/jobs/<int:job_id>/", views.job_detail, name="job-detail"),
    path("p/<slug:slug>/jobs/<int:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("p/<slug:slug>/jobs/<int:job_id>/rerun/", views.job_rerun, name="job-rerun"),
    path("p/<slug:slug>/studies/", study_views.study_list, name="study-list"),
    path("p/<slug:slug>/studies/count/", study_views.study_count, name="study-count"),
    path("p/<slug:slug>/studies/<int:study_id>/", study_views.study_detail, name="study-detail"),
    path("p/<slug:slug>/patients/<str:pseudo_id>/", study_views.patient_detail, name="patient-detail"),
    path("p/<slug:slug>/import/", study_views.import_page, name="import"),
    path("p/<slug:slug>/images/redaction/", redaction_views.redaction_list, name="redaction-list"),
    path("p/<slug:slug>/images/<int:image_id>/redact/", redaction_views.redact_page, name="redact-image"),
    path("p/<slug:slug>/images/<int:image_id>/flag-burned-in/", redaction_views.flag_image, name="flag-image"),
    path("p/<slug:slug>/datasets/", dataset_views.version_list, name="datasets"),
    path("p/<slug:slug>/datasets/freeze/", dataset_views.version_freeze, name="dataset-freeze"),
    path("p/<slug:slug>/datasets/<int:version_id>/", dataset_views.version_detail, name="dataset-version"),
    path("p/<slug:slug>/datasets/<int:version_id>/export/", dataset_views.version_export, name="dataset-export"),
    path("p/<slug:slug>/datasets/<int:version_id>/datacard/", dataset_views.data_card, name="dataset-card"),
    path(
        "p/<slug:slug>/datasets/<int:version_id>/datacard/datacard_plots/<str:name>.svg",
        dataset_views.data_card_plot,
        name="dataset-card-plot",
    ),
    path("p/<slug:slug>/labels/", label_views.labels_page, name="labels"),
    path("p/<slug:slug>/labels/mine/", label_views.mine_labels, name="mine-labels"),
    path("p/<slug:slug>/vocabulary/", label_views.vocabulary_page, name="vocabulary"),
    path("p/<slug:slug>/masks/", mask_views.masks_page, name="masks"),
    path("p/<slug:slug>/masks/start/", mask_views.masks_action, name="masks-action"),
    path("p/<slug:slug>/masks/overlays/<int:result_id>/", mask_views.qc_overlay, name="qc-overlay"),
    path("p/<slug:slug>/review/labels/", review_views.review_labels, name="review-labels"),
    path("p/<slug:slug>/review/masks/", review_views.review_masks, name="review-masks"),
    path("p/<slug:slug>/review/structure/", review_views.review_structure, name="review-structure"),
    path("p/<slug:slug>/review/agreement/", review_views.review_agreement, name="review-agreement"),
    path("p/<slug:slug>/review/adjudication/", review_views.adjudication_list, name="review-adjudication"),
    path(
        "p/<slug:slug>/review/items/<int:item_id>/adjudicate/",
        review_views.adjudicate_item,
        name="review-adjudicate",
    ),
    path(
        "p/<slug:slug>/review/items/<int:item_id>/send-back/",
        review_views.send_back_item,
        name="review-send-back",
    ),
]
