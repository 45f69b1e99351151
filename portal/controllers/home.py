"""The public information pages: Getting Ready, the list of applications, and help and law
(Help, Contact, Accessibility statement, Privacy policy). Each page of the portal links to the
help page's section about it (``help_link``)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.response import Template

from portal.auth import session_guard
from portal.models import catalog as catalog_queries
from portal.settings import Settings
from portal.web import AnyRequest, render

# The journeys the Getting Ready page leads to, by route name.
JOURNEY_LINKS = [
    ("New User Registration", "registration:start"),
    ("Log in", "accounts:login"),
    ("Check registration status", "status:form"),
]

# The help page's section (its id) about each route's page; a route not listed gets the top of
# the help page. Registration steps swapped in by htmx name their section themselves (step.slug).
HELP_SECTIONS: dict[str, str] = {
    "home:getting-ready": "before-you-start",
    "home:applications": "before-you-start",
    "registration:start": "choose-application",
    "registration:terms": "choose-application",
    "registration:accept": "choose-application",
    "registration:personal": "step-personal",
    "registration:personal-save": "step-personal",
    "registration:verify": "step-verify",
    "registration:verify-check": "step-verify",
    "registration:resend": "step-verify",
    "registration:contact": "step-contact",
    "registration:contact-save": "step-contact",
    "registration:contact-fields": "step-contact",
    "registration:questions": "step-questions",
    "registration:questions-save": "step-questions",
    "registration:review": "step-review",
    "registration:review-section": "step-review",
    "registration:review-edit": "step-review",
    "registration:review-save": "step-review",
    "registration:submit": "step-review",
    "registration:pending": "step-review",
    "registration:done": "step-done",
    "registration:finish": "step-done",
    "status:form": "status",
    "status:check": "status",
    "accounts:login": "log-in",
    "accounts:login-submit": "log-in",
    "accounts:change-password": "log-in",
    "accounts:change-password-submit": "log-in",
    "accounts:recover": "forgotten",
    "accounts:recover-identify": "forgotten",
    "accounts:recover-answers": "forgotten",
    "accounts:recover-questions": "forgotten",
    "accounts:recover-sent": "forgotten",
    "accounts:reset": "forgotten",
    "accounts:reset-submit": "forgotten",
    "accounts:user-id-link": "forgotten",
    "accounts:user-id-reveal": "forgotten",
    "accounts:applications": "your-applications",
    "accounts:request-start": "your-applications",
    "accounts:request-form": "your-applications",
    "accounts:request-fields": "your-applications",
    "accounts:request-sent": "your-applications",
    "accounts:request-submit": "your-applications",
    "mfa:second-step": "two-factor",
    "mfa:second-step-submit": "two-factor",
    "mfa:manage": "two-factor",
    "mfa:app": "two-factor",
    "mfa:app-submit": "two-factor",
    "mfa:passkey": "two-factor",
    "mfa:passkey-submit": "two-factor",
    "mfa:codes": "two-factor",
    "mfa:codes-new": "two-factor",
    "mfa:remove": "two-factor",
    "mfa:step-up": "two-factor",
    "mfa:step-up-submit": "two-factor",
    "approvals:table": "approvers",
    "approvals:details": "approvers",
    "approvals:row": "approvers",
    "approvals:approve": "approvers",
    "approvals:reject-form": "approvers",
    "approvals:reject": "approvers",
    "approvals:bulk": "approvers",
    "approvals:confirm": "approvers",
    "sso:authorize": "your-applications",
    "sso:logout": "your-applications",
    "sso:logout-confirm": "your-applications",
    "sso:authorize-post": "your-applications",
    "sso:logout-post": "your-applications",
    "sso:userinfo-post": "your-applications",
    "sso:discovery": "your-applications",
    "sso:jwks": "your-applications",
    "sso:token": "your-applications",
    "sso:userinfo": "your-applications",
    "sso:revoke": "your-applications",
    "help:contact": "contact",
    "help:accessibility": "contact",
    "help:privacy": "contact",
}


def help_link(request: AnyRequest, section: str | None = None) -> str:
    """Where "Get help with this page" goes: the help page's section about the page shown
    (``section``, else the current route's), or the top of the help page. Empty on the help
    page itself."""
    handler = request.scope.get("route_handler")
    name = getattr(handler, "name", None) or ""
    if name == "help:index":
        return ""
    section = section or HELP_SECTIONS.get(name, "")
    return request.app.route_reverse("help:index") + (f"#{section}" if section else "")


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

    # ---- Help and law: the help desk comes from the settings, set once ------------------------

    @get("/help", name="help:index")
    async def help(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Template:
        return _help_page(request, settings, "help/help.html")

    @get("/contact", name="help:contact")
    async def contact(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Template:
        return _help_page(request, settings, "help/contact.html")

    @get("/accessibility", name="help:accessibility")
    async def accessibility(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Template:
        return _help_page(request, settings, "help/accessibility.html")

    @get("/privacy", name="help:privacy")
    async def privacy(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Template:
        return _help_page(request, settings, "help/privacy.html")


def _help_page(request: AnyRequest, settings: Settings, template: str) -> Template:
    """A help or law page: each shows the help desk, as the settings give it."""
    return render(request, template, {"desk": settings.help_desk})
