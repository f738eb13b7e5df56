"""URLs of the settings, mounted at /settings/."""

from django.urls import path

from . import views

app_name = "settings"

urlpatterns = [
    path("", views.index, name="index"),
    path("business/", views.business, name="business"),
    path("sending/", views.sending, name="sending"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/<int:pk>/remove/", views.calendar_remove, name="calendar_remove"),
    path("method/", views.method, name="method"),
    path("loss-reasons/", views.loss_reasons, name="loss_reasons"),
    path("loss-reasons/<int:pk>/", views.loss_reason, name="loss_reason"),
    path("loss-reasons/<int:pk>/move/", views.loss_reason_move, name="loss_reason_move"),
    path("loss-reasons/<int:pk>/remove/", views.loss_reason_remove, name="loss_reason_remove"),
    path("pipelines/", views.pipelines, name="pipelines"),
    path("pipelines/<int:pk>/", views.pipeline, name="pipeline"),
    path("pipelines/<int:pk>/stages/", views.stage_add, name="stage_add"),
    path("stages/<int:pk>/", views.stage, name="stage"),
    path("stages/<int:pk>/move/", views.stage_move, name="stage_move"),
    path("stages/<int:pk>/remove/", views.stage_remove, name="stage_remove"),
    path("channels/", views.channels, name="channels"),
    path("channels/new/", views.channel_new, name="channel_new"),
    path("channels/<int:pk>/", views.channel, name="channel"),
    path("channels/<int:pk>/deactivate/", views.channel_deactivate, name="channel_deactivate"),
    path("users/", views.users, name="users"),
    path("users/new/", views.user_new, name="user_new"),
    path("users/<int:pk>/", views.user, name="user"),
    path("users/<int:pk>/password/", views.user_password, name="user_password"),
    path("sources/", views.sources, name="sources"),
    path("sources/<int:pk>/", views.source, name="source"),
    path("sources/<int:pk>/costs/", views.source_cost_add, name="source_cost_add"),
    path("costs/<int:pk>/remove/", views.source_cost_remove, name="source_cost_remove"),
]
