"""The REST API: `/api/v1/`, its OpenAPI document at `/api/v1/openapi.json`, docs at `/api/docs`.

Each resource is a router in its own module, listed in `ROUTERS`.
"""

from __future__ import annotations

from importlib import import_module

from ninja import NinjaAPI

from . import problems
from .auth import api_key_auth
from .ratelimit import KeyThrottle

# (URL prefix, module holding `router`) of each resource.
ROUTERS: list[tuple[str, str]] = [
    ("/keys", "kasatka.api.routes.me"),
]

api = NinjaAPI(
    title="Kasatka API",
    version="1",
    description=(
        "The REST API of one Kasatka business. Authenticate with an API key made in "
        "Settings → API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`. "
        "Errors are RFC 9457 problem details (`application/problem+json`)."
    ),
    urls_namespace="api",
    auth=api_key_auth,
    throttle=[KeyThrottle()],
    docs_url="/docs",
)
problems.install(api)
for prefix, module in ROUTERS:
    api.add_router(prefix, import_module(module).router)
