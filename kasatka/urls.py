"""URL map of the whole site."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from kasatka.api.main import api
from kasatka.channels import views as channel_views
from kasatka.sales import public as sales_public
from kasatka.web import language, public, visits

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("language/", language.switch_language, name="language"),
    path("u/<str:token>/", public.unsubscribe, name="unsubscribe"),
    path("c/<str:token>/", public.confirm, name="confirm_consent"),
    path("lc/<str:token>/", sales_public.lead_answer, name="lead_answer"),
    path("lead-conversions/<int:pk>/answer/", sales_public.seller_answer,
         name="lead_answer_by_seller"),
    path("lead/<slug:slug>/", visits.lead_form, name="lead_form"),
    path("hooks/<int:account_id>/<str:key>/", channel_views.webhook, name="channel_hook"),
    path("letters/", include("kasatka.channels.letter.urls")),
    path("api/v1/", api.urls),
    path("api/docs", RedirectView.as_view(pattern_name="api:openapi-view"), name="api_docs"),
    path("insights/", include("kasatka.insights.urls")),
    path("deals/", include("kasatka.deals.urls")),
    path("chains/", include("kasatka.chains.urls")),
    path("settings/api-keys/", include("kasatka.api.urls")),
    path("settings/webhooks/", include("kasatka.webhooks.urls")),
    path("settings/", include("kasatka.accounts.urls")),
    path("imports/", include("kasatka.imports.urls")),
    path("exports/", include("kasatka.exports.urls")),
    path("capture/", include("kasatka.capture.urls")),
    path("", include("kasatka.web.urls")),
]
