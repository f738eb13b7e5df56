"""The settings pages. (Placeholder, replaced by the settings.)"""

from django.http import HttpRequest, HttpResponse

from kasatka.accounts.access import needs


@needs("settings")
def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")
