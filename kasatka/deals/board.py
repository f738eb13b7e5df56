"""The deals board. (Placeholder, replaced by the kanban.)"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def board(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")
