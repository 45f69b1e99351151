"""The one place that decides page or fragment, and how to redirect after a form."""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.connection.base import empty_receive, empty_send
from litestar.datastructures import Cookie, FormMultiDict
from litestar.exceptions import ClientException
from litestar.plugins.htmx import ClientRedirect, HTMXDetails, HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.types import Receive, Scope, Send

from portal.clock import now
from portal.links import Links

VARY = {"Vary": "HX-Request"}
# The cookie that carries a refused plain form back to its page (portal/returns.py).
RETURNED_COOKIE = "iacs_form"
T = TypeVar("T", bound=msgspec.Struct)
AnyRequest = Request[Any, Any, Any]


class PortalRequest(HTMXRequest):
    """litestar-htmx's request without its reference cycle. HTMXRequest and its HTMXDetails
    refer to each other, so no request was freed when it ended: each waited, with its scope, its
    chain of send functions and the response's brotli compressor (native buffers of its own),
    for the garbage collector's full pass, which comes once a quarter as many objects as the
    worker holds for good (~137,000) have piled up. bench/memory.py found up to ~140 requests
    held so, 30 to 40 MiB of a worker at rest. The details hold a weak proxy instead: the
    request goes when its last reference does."""

    __slots__ = ("__weakref__",)

    def __init__(self, scope: Scope, receive: Receive = empty_receive, send: Send = empty_send) -> None:
        Request.__init__(self, scope=scope, receive=receive, send=send)
        self.htmx = HTMXDetails(weakref.proxy(self))


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now to ``moment`` (0 once past): pages send clocks as durations, so
    a browser whose own clock is wrong still counts down correctly."""
    return max(0, int((moment - now()).total_seconds()))


def links_for(app: Litestar, base_url: str) -> Links:
    """The addresses journeys put in emails, from the route names."""
    return Links(
        login=base_url + app.route_reverse("accounts:login"),
        approvals=base_url + app.route_reverse("approvals:table"),
        overdue=base_url + app.route_reverse("approvals:table") + "?overdue=1",
        status=base_url + app.route_reverse("status:form"),
    )


def wants_fragment(request: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """A fragment only for an htmx request that is neither boosted nor a history restore."""
    hx = getattr(request, "htmx", None)
    if not hx:
        return False
    return not hx.boosted and not hx.history_restore_request


def render(
    request: AnyRequest,
    page: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    push_url: str | None = None,
) -> Template:
    """Render ``page``; for an htmx fragment request render ``fragment`` (which the page
    includes, so the markup exists once). Both answers vary on HX-Request. A page also gets
    ``signed_in``, the session the header shows (None when signed out)."""
    context = context or {}
    if fragment and wants_fragment(request):
        context["swapped"] = True
        return HTMXTemplate(
            template_name=fragment,
            context=context,
            status_code=status_code,
            headers=VARY,
            push_url=push_url or False,
        )
    context.setdefault("swapped", False)
    context.setdefault("signed_in", request.state.get("signed_in"))
    # A form sent back after a refused POST is shown once: the page that shows it clears it.
    cookies = [_cleared(RETURNED_COOKIE)] if RETURNED_COOKIE in request.cookies else None
    return Template(template_name=page, context=context, status_code=status_code, headers=VARY, cookies=cookies)


def _cleared(name: str) -> Cookie:
    """A cookie removed."""
    return Cookie(key=name, value="", path="/", max_age=0, httponly=True, samesite="lax")


def redirect(request: ASGIConnection[Any, Any, Any, Any], url: str) -> Redirect | ClientRedirect:
    """After a successful form: HX-Redirect for htmx, 303 See Other for a plain form."""
    if wants_fragment(request):
        return ClientRedirect(redirect_to=url)
    return Redirect(url, status_code=303)


async def read_form(request: AnyRequest) -> FormMultiDict:
    """The posted form; a body that cannot be decoded (bytes that are not UTF-8 in a multipart
    part) is a 400, not a 500."""
    try:
        return await request.form()
    except UnicodeDecodeError:
        raise ClientException("the form could not be read") from None


async def parse_form(request: AnyRequest, form_type: type[T], *, rest_as_fields: bool = False) -> T:
    """A posted form as ``form_type`` (a msgspec Struct of ``str`` fields, all defaulted).
    Unknown fields (the CSRF token) are ignored; a repeated field keeps its first value; a
    missing one keeps its default; a file is ignored. So a crafted body is a validation
    message, never a 400. With ``rest_as_fields`` the other posted text fields go into the
    form's ``fields`` dict (a catalog's role fields: the form's checks read only the role's)."""
    raw = await read_form(request)
    own = form_type.__struct_fields__
    # Kept as typed: the form's checks refuse invisible characters with a message.
    values: dict[str, Any] = {name: value for name in own if isinstance(value := raw.get(name), str)}
    if rest_as_fields:
        values["fields"] = {
            name: value
            for name in raw
            if name not in own and not name.startswith("_") and isinstance(value := raw.get(name), str)
        }
    return msgspec.convert(values, form_type)
