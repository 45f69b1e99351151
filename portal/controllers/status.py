"""Registration status (spec Journey 3): tracking number + email address -> state."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.response import Template

from portal.auth import session_guard
from portal.registration import status
from portal.registration.forms import StatusForm
from portal.web import AnyRequest, parse_form, render


class StatusController(Controller):
    path = "/status"
    include_in_schema = False
    guards = [session_guard]

    @get("/", name="status:form")
    async def form(self, request: AnyRequest) -> Template:
        context = {"form": StatusForm(), "errors": {}, "result": None, "not_found": ""}
        return render(request, "status/status.html", context)

    @post("/", name="status:check", status_code=200, opt={"throttle": True})
    async def check(self, request: AnyRequest) -> Template:
        form = await parse_form(request, StatusForm)
        answer = await status.check(form)
        context = {"form": form, "errors": answer.errors, "result": answer.result, "not_found": answer.not_found}
        return render(request, "status/status.html", context, fragment="status/_status.html")
