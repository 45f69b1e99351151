"""The Getting Ready page and the list of applications."""

from litestar import Controller, get
from litestar.response import Template

from portal.auth import session_guard
from portal.models import catalog as catalog_queries
from portal.web import AnyRequest, render

# The journeys the Getting Ready page leads to, by route name.
JOURNEY_LINKS = [
    ("New User Registration", "registration:start"),
    ("Log in", "accounts:login"),
    ("Check registration status", "status:form"),
]


def available_links(request: AnyRequest) -> list[tuple[str, str]]:
    return [(label, request.app.route_reverse(route)) for label, route in JOURNEY_LINKS]


class HomeController(Controller):
    include_in_schema = False
    guards = [session_guard]

    @get("/", name="home:getting-ready")
    async def getting_ready(self, request: AnyRequest) -> Template:
        return render(request, "home/getting_ready.html", {"links": available_links(request)})

    @get("/applications", name="home:applications")
    async def applications(self, request: AnyRequest) -> Template:
        return render(
            request,
            "home/applications.html",
            {
                "applications": await catalog_queries.active_applications(),
                "field_labels": await catalog_queries.field_labels(),
            },
        )
