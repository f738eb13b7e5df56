"""The contact list: search and filters. (Placeholder, replaced by the contacts page.)"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def contact_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")
