"""The plan of nudges and the deal pages."""

from django.urls import path

from . import board, views

app_name = "deals"

urlpatterns = [
    path("plan/", views.plan, name="plan"),
    path("board/", board.board, name="board"),
    path("<int:pk>/move/", board.move, name="move"),
    path("<int:pk>/propose/", board.propose_nudge, name="propose"),
    path("nudges/<int:pk>/throw/", views.throw_nudge, name="throw"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("replies/<int:pk>/correct/", views.correct_reply_view, name="correct"),
    path("<int:pk>/", views.deal_page, name="deal"),
    path("<int:pk>/answer/", views.record_answer_view, name="answer"),
]
