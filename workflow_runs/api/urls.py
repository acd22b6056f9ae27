from django.urls import path

from . import views_credits, views_events, views_prices, views_runs, views_statements, views_templates

urlpatterns = [
    path("workflow-templates", views_templates.TemplateListApi.as_view(), name="workflow-template-list"),
    path(
        "workflow-templates/<uuid:template_id>",
        views_templates.TemplateDetailApi.as_view(),
        name="workflow-template-detail",
    ),
    path("workflow-runs", views_runs.RunListApi.as_view(), name="workflow-run-list"),
    path("workflow-runs/<uuid:run_id>", views_runs.RunDetailApi.as_view(), name="workflow-run-detail"),
    path(
        "workflow-runs/<uuid:run_id>/retry-failed",
        views_runs.RunRetryFailedApi.as_view(),
        name="workflow-run-retry-failed",
    ),
    path("workflow-runs/<uuid:run_id>/files", views_runs.RunFilesApi.as_view(), name="workflow-run-files"),
    path("workflow-runs/<uuid:run_id>/cancel", views_runs.RunCancelApi.as_view(), name="workflow-run-cancel"),
    path("workflow-runs/<uuid:run_id>/events", views_events.run_events, name="workflow-run-events"),
    path("prices", views_prices.PriceListApi.as_view(), name="price-list"),
    path("credits", views_credits.CreditBalanceApi.as_view(), name="credit-balance"),
    path("credits/ledger", views_statements.LedgerApi.as_view(), name="credit-ledger"),
    path("credits/ledger.csv", views_statements.LedgerCsvApi.as_view(), name="credit-ledger-csv"),
    path("credits/grant", views_credits.CreditGrantApi.as_view(), name="credit-grant"),
]
