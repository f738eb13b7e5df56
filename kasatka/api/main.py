"""The REST API: `/api/v1/`, its OpenAPI document at `/api/v1/openapi.json`, docs at `/api/docs`.

Each resource is a router in its own module, listed in `ROUTERS`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

from . import problems
from .auth import api_key_auth
from .ratelimit import KeyThrottle

# (URL prefix, module holding `router`) of each resource.
ROUTERS: list[tuple[str, str]] = [
    ("/keys", "kasatka.api.routes.me"),
    ("/contacts", "kasatka.api.routes.contacts"),
    ("/visits", "kasatka.api.routes.visits"),
    ("/purchases", "kasatka.api.routes.purchases"),
    ("/deals", "kasatka.api.routes.deals"),
    ("/enrollments", "kasatka.api.routes.enrollments"),
    ("/touches", "kasatka.api.routes.touches"),
    ("/lead-sources", "kasatka.api.routes.sources"),
    ("", "kasatka.api.routes.reference"),
    ("/leads", "kasatka.api.routes.leads"),
]


class KasatkaAPI(NinjaAPI):
    """Ninja's API, whose OpenAPI document says that errors are problem documents."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status).startswith("4") and "application/json" in content:
                        response["content"] = {
                            problems.MEDIA_TYPE: content["application/json"]
                        }
        return schema


api = KasatkaAPI(
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
