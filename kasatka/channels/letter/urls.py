"""URLs of the print queue, mounted at /letters/."""

from django.urls import path

from . import views

app_name = "letters"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("print/", views.print_run, name="print"),
    path("printed.pdf", views.reprint, name="reprint"),
    path("labels.pdf", views.labels, name="labels"),
    path("posted/", views.post_all, name="post_all"),
    path("<int:pk>.pdf", views.letter_pdf, name="pdf"),
    path("<int:pk>/posted/", views.post_letter, name="post"),
]
