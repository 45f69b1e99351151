"""Registration status (spec Journey 3): tracking number + email address -> state."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from portal.invisible import invisible_errors
from portal.models import registration as q
from portal.registration.forms import LABELS, StatusForm, normalise_email
from portal.registration.tracking import normalise_tracking_number
from portal.web import parse_form, render

NOT_FOUND = (
    "We could not find a registration with that tracking number and email address. Check both"
    " and try again: use the email address you registered with."
)


class StatusController(Controller):
    path = "/status"
    include_in_schema = False

    @get("/", name="status:form")
    async def form(self, request: HTMXRequest) -> Template:
        return render(
            request, "status/status.html", {"form": StatusForm(), "errors": {}, "result": None, "not_found": ""}
        )

    @post("/", name="status:check", status_code=200)
    async def check(self, request: HTMXRequest) -> Template:
        form = await parse_form(request, StatusForm)
        errors: dict[str, str] = {}
        tracking = normalise_tracking_number(form.tracking_number[:40])
        email = normalise_email(form.email[:254]) if form.email.strip() else None
        if not form.tracking_number.strip():
            errors["tracking_number"] = "Enter your registration tracking number"
        elif not tracking:
            errors["tracking_number"] = (
                "Enter the tracking number as it appears in your email, like IACS-7K4M-9QX2-HT3P"
            )
        if not form.email.strip():
            errors["email"] = "Enter the email address you registered with"
        elif email is None:
            errors["email"] = "Enter an email address in the correct format, like name@example.com"
        errors |= invisible_errors(form, LABELS)
        result = None
        not_found = False
        if not errors:
            result = await q.request_status(tracking, email)
            not_found = result is None
        return render(
            request,
            "status/status.html",
            {"form": form, "errors": errors, "result": result, "not_found": NOT_FOUND if not_found else ""},
            fragment="status/_status.html",
        )
