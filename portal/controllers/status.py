"""Registration status (spec Journey 3): tracking number + email address -> state.

With htmx the check answers with the fragment in place. Without JavaScript it answers 303 to
the status page (post/redirect/get): the typed pair and any messages ride in the returned-form
cookie, and the page looks the request up again and shows the answer once; a refresh shows the
empty form and never offers to send it again."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from portal.auth import session_guard
from portal.registration import status
from portal.registration.forms import StatusForm
from portal.registration.status import StatusAnswer
from portal.returns import Returns
from portal.web import AnyRequest, parse_form, render


class StatusController(Controller):
    path = "/status"
    include_in_schema = False
    guards = [session_guard]

    @get("/", name="status:form")
    async def form(self, request: AnyRequest, returns: NamedDependency[Returns]) -> Template:
        returned = returns.take(request)
        form = returns.form_as(returned, StatusForm)
        answer = await status.answer_again(form, returned.errors)
        return _page(request, form or StatusForm(), answer)

    @post("/", name="status:check", status_code=200, opt={"throttle": True})
    async def check(self, request: AnyRequest, returns: NamedDependency[Returns]) -> Template | Redirect:
        form = await parse_form(request, StatusForm)
        answer = await status.check(form)
        typed = StatusForm(tracking_number=form.tracking_number[:40], email=form.email[:254])
        back = returns.back(request, request.app.route_reverse("status:form"), form=typed, errors=answer.errors)
        return back or _page(request, form, answer)


def _page(request: AnyRequest, form: StatusForm, answer: StatusAnswer) -> Template:
    context: dict[str, Any] = {
        "form": form,
        "errors": answer.errors,
        "result": answer.result,
        "not_found": answer.not_found,
    }
    return render(request, "status/status.html", context, fragment="status/_status.html")
