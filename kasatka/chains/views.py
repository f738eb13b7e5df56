"""The chain editor. (Placeholder, replaced by the editor.)"""

from django.http import HttpRequest, HttpResponse

from kasatka.accounts.access import needs


@needs("chains")
def chain_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")
