"""Approvals (spec Journey 4): the approver's table, row details, approve and reject inline,
bulk approval. With htmx the filters, sort and pages replace only the table and push their URL;
row actions swap only the row. Without JavaScript the same links and forms reload the page.
Every route is behind ``approver_guard``; handlers get the ``decider`` as a dependency."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from portal.approvals import service
from portal.approvals.service import Action, Decision, Details, Notice, Outcome, Planned
from portal.auth import approver_guard, client_ip, session_guard
from portal.clock import now
from portal.crypto import FieldCipher
from portal.invisible import strip_invisible
from portal.links import Links
from portal.models import approvals as q
from portal.models import catalog as catalog_queries
from portal.models.approvals import Decider, QueueFilter
from portal.models.rows import QueueRow, RequestDetail
from portal.returns import Returns
from portal.signing import Signed, signed
from portal.web import AnyRequest, parse_form, read_form, render, wants_fragment

AnyResponse = Template | Redirect
# A decision needs a second factor used in the last 12 hours (portal.auth.approver_guard).
DECISION = {"step_up": True}


class DecisionForm(msgspec.Struct):
    reason: str = ""
    back: str = ""


class BulkForm(msgspec.Struct):
    back: str = ""
    action: str = "approve"
    reason: str = ""


_URL_CHARS = re.compile(r"[A-Za-z0-9/?&=%._~+-]*")
_TRACKING = re.compile(r"[A-Z0-9-]{1,20}")


def _tracking(value: str) -> str:
    """A tracking number from the URL, or "" (which no request has) when it cannot be one."""
    return value if _TRACKING.fullmatch(value) else ""


# ---- The table's URL <-> QueueFilter ------------------------------------------------------------


def view_from_params(params: Mapping[str, str]) -> QueueFilter:
    """A view from a query string, with odd values defaulted. What a URL can carry that no
    catalog code or search needs is dropped, never queried."""
    page = params.get("page", "1")
    sort = params.get("sort", "due")
    return QueueFilter(
        application=strip_invisible(params.get("application", ""))[:20],
        role=strip_invisible(params.get("role", ""))[:40],
        overdue=bool(params.get("overdue")),
        search=strip_invisible(params.get("q", "")).strip()[:100],
        sort=sort if sort in q.SORTS else "due",
        descending=params.get("dir") == "desc",
        page=max(1, min(int(page), 100_000)) if page.isascii() and page.isdigit() and len(page) <= 6 else 1,
    )


def view_params(view: QueueFilter, **override: str | int) -> dict[str, str]:
    """The inverse of ``view_from_params``: the query string of a view (defaults left out)."""
    values = {
        "application": view.application,
        "role": view.role,
        "overdue": "1" if view.overdue else "",
        "q": view.search,
        "sort": view.sort,
        "dir": "desc" if view.descending else "asc",
        "page": str(view.page),
    }
    values.update({k: str(v) for k, v in override.items()})
    return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def _view_from_url(url: str) -> QueueFilter:
    return view_from_params({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})


@dataclass(frozen=True)
class RowItem:
    """One row as _request.html draws it."""

    row: QueueRow
    may_decide: bool = True
    back: str = ""
    expanded: bool = False
    rejecting: bool = False
    message: str = ""
    ok: bool = True
    reason: str = ""
    error: str = ""
    details: Details | None = None
    selected: bool = False


class ApprovalsController(Controller):
    path = "/approvals"
    include_in_schema = False
    guards = [session_guard, approver_guard]

    @get("/", name="approvals:table")
    async def table(self, request: AnyRequest, decider: NamedDependency[Decider]) -> Template:
        """Query: application, role, overdue, q (name or tracking number), sort, dir, page;
        select=all (every row of the page ticked, for "Select all" without JavaScript); and done,
        the signed message after a decision without JavaScript."""
        params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        notice = _read_notice(request, params.get("done"))
        view = view_from_params(params)
        return await self._table(request, decider, view, notice=notice, select_all=params.get("select") == "all")

    async def _table(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        view: QueueFilter,
        notice: Notice | None = None,
        *,
        select_all: bool = False,
    ) -> Template:
        rows, total = await q.queue(decider, view)
        apps = await catalog_queries.active_applications()
        allowed = {r.application for r in decider.rights}
        if None not in allowed:
            apps = [a for a in apps if a.id in allowed]
        roles = sorted(
            {(r.code, r.name) for a in apps for r in a.roles if not view.application or a.code == view.application}
        )
        base = request.app.route_reverse("approvals:table")

        def url(**override: str | int) -> str:
            return base + "?" + urlencode(view_params(view, **override))

        here = base + ("?" + urlencode(view_params(view)) if view_params(view) else "")
        pages = max(1, -(-total // q.PAGE_SIZE))
        sort_urls = {}
        for key in q.SORTS:
            active = view.sort == key
            next_dir = "asc" if active and view.descending else ("desc" if active else "asc")
            sort_urls[key] = url(sort=key, dir=next_dir, page=1)
        context = {
            "rows": [RowItem(row, back=here, selected=select_all) for row in rows],
            "total": total,
            "view": view,
            "pages": pages,
            "applications": [(a.code, a.name) for a in apps],
            "roles": roles,
            "base": base,
            "here": here,
            "sort_urls": sort_urls,
            "previous_url": url(page=view.page - 1),
            "next_url": url(page=view.page + 1),
            "select_all_url": url(select="all"),
            "filtered": bool(view.application or view.role or view.overdue or view.search),
            "now": now(),
            "notice": notice,
        }
        return render(request, "approvals/table.html", context, fragment="approvals/_rows.html", push_url=here)

    @get("/{tracking:str}", name="approvals:details")
    async def details(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        cipher: NamedDependency[FieldCipher],
        tracking: FromPath[str],
        back: FromQuery[str] = "",
    ) -> Template:
        return await self._row(request, decider, tracking, back, expanded=True, cipher=cipher)

    @get("/{tracking:str}/row", name="approvals:row")
    async def row(
        self, request: AnyRequest, decider: NamedDependency[Decider], tracking: FromPath[str], back: FromQuery[str] = ""
    ) -> AnyResponse:
        if not wants_fragment(request):
            return Redirect(_back(request, back), status_code=303)
        return await self._row(request, decider, tracking, back)

    @get("/{tracking:str}/reject", name="approvals:reject-form")
    async def reject_form(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        returns: NamedDependency[Returns],
        tracking: FromPath[str],
        back: FromQuery[str] = "",
    ) -> Template:
        reason, error = _returned_reason(returns, request)
        return await self._row(request, decider, tracking, back, rejecting=True, reason=reason, error=error)

    @post("/{tracking:str}/approve", name="approvals:approve", status_code=200, opt=DECISION)
    async def approve(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        links: NamedDependency[Links],
        tracking: FromPath[str],
    ) -> AnyResponse:
        form = await parse_form(request, DecisionForm)
        decision = await service.approve(decider, _tracking(tracking), ip=client_ip(request), links=links)
        return await self._after(request, decider, tracking, decision, form.back)

    @post("/{tracking:str}/reject", name="approvals:reject", status_code=200, opt=DECISION)
    async def reject(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        returns: NamedDependency[Returns],
        tracking: FromPath[str],
    ) -> AnyResponse:
        form = await parse_form(request, DecisionForm)
        decision = await service.reject(decider, _tracking(tracking), form.reason, ip=client_ip(request))
        if decision.error:  # without JavaScript, back to the reject form (post/redirect/get)
            url = request.app.route_reverse("approvals:reject-form", tracking=_tracking(tracking))
            url += "?" + urlencode({"back": _back(request, form.back)})
            sent = returns.back(request, url, form={"reason": form.reason[:2000]}, errors={"reason": decision.error})
            return sent or await self._row(
                request, decider, tracking, form.back, rejecting=True, reason=form.reason[:2000], error=decision.error
            )
        return await self._after(request, decider, tracking, decision, form.back)

    @get("/confirm", name="approvals:confirm")
    async def confirm(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        returns: NamedDependency[Returns],
        action: FromQuery[str] = "",
        back: FromQuery[str] = "",
    ) -> AnyResponse:
        """The selected requests and what approving (or rejecting) each will do, with Confirm and
        Cancel: a GET, so it changes nothing and a refresh shows it again."""
        chosen = _action(action)
        selected = _selected(request.query_params.getall("selected", []))
        back = _back(request, back)
        if not selected:
            return await self._done(request, decider, back, service.bulk_notice(chosen, []))
        planned = await service.plan(decider, selected, chosen)
        reason, error = _returned_reason(returns, request)
        return self._confirmation(request, planned, chosen, back, reason=reason, error=error)

    @post("/bulk", name="approvals:bulk", status_code=200, opt=DECISION)
    async def bulk(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        links: NamedDependency[Links],
        returns: NamedDependency[Returns],
    ) -> AnyResponse:
        """The confirmed bulk decision: each selected request its own decision, exactly once;
        then back to the table (303 without JavaScript), saying what became of each."""
        form = await parse_form(request, BulkForm)
        chosen = _action(form.action)
        selected = _selected((await read_form(request)).getall("selected", []))
        back = _back(request, form.back)
        result = await service.decide_many(decider, selected, chosen, form.reason, ip=client_ip(request), links=links)
        if isinstance(result, str):  # the reason cannot be sent: nothing was decided
            url = _confirm_url(request, chosen, selected, back)  # without JavaScript: back to the confirmation
            sent = returns.back(request, url, form={"reason": form.reason[:2000]}, errors={"reason": result})
            if sent is not None:
                return sent
            planned = await service.plan(decider, selected, chosen)
            return self._confirmation(request, planned, chosen, back, reason=form.reason[:2000], error=result)
        return await self._done(request, decider, back, result)

    def _confirmation(
        self,
        request: AnyRequest,
        planned: list[Planned],
        action: Action,
        back: str,
        *,
        reason: str = "",
        error: str = "",
    ) -> Template:
        decidable = [p for p in planned if p.decidable]
        n = len(decidable)
        verb = "Approve" if action is Action.APPROVE else "Reject"
        heading = f"{verb} {n} request{'s' if n != 1 else ''}?" if n else "The selected requests cannot be decided"
        context = {
            "heading": heading,
            "planned": planned,
            "action": action.value,
            "decidable": decidable,
            "back": back,
            "reason": reason,
            "error": error,
        }
        return render(
            request,
            "approvals/confirm.html",
            context,
            fragment="approvals/_confirm.html",
            push_url=_confirm_url(request, action, [p.tracking for p in planned], back),
        )

    async def _done(
        self, request: AnyRequest, decider: NamedDependency[Decider], back: str, notice: Notice
    ) -> AnyResponse:
        if not wants_fragment(request):
            return Redirect(_with_notice(request, back, notice), status_code=303)
        return await self._table(request, decider, _view_from_url(back), notice=notice)

    async def _after(
        self, request: AnyRequest, decider: NamedDependency[Decider], tracking: str, decision: Decision, back: str
    ) -> AnyResponse:
        if not wants_fragment(request):
            url = _back(request, back)
            return Redirect(_with_notice(request, url, Notice(f"{tracking}: {decision.message}")), status_code=303)
        return await self._row(request, decider, tracking, back, message=decision.message, ok=decision.ok)

    async def _row(
        self,
        request: AnyRequest,
        decider: NamedDependency[Decider],
        tracking: str,
        back: str,
        *,
        expanded: bool = False,
        rejecting: bool = False,
        message: str = "",
        ok: bool = True,
        reason: str = "",
        error: str = "",
        cipher: FieldCipher | None = None,
    ) -> Template:
        row, may_decide = await service.row_view(decider, _tracking(tracking), expanded=expanded)
        shown = await service.details(row, cipher) if cipher and isinstance(row, RequestDetail) else None
        item = RowItem(
            row,
            may_decide=may_decide,
            back=_back(request, back),
            expanded=expanded,
            rejecting=rejecting,
            message=message,
            ok=ok,
            reason=reason,
            error=error,
            details=shown,
        )
        context: dict[str, Any] = {"item": item, "now": now()}
        return render(request, "approvals/request.html", context, fragment="approvals/_request.html")


def _confirm_url(request: AnyRequest, action: Action, selected: list[str], back: str) -> str:
    """The confirmation step of a bulk decision (a GET: its address reproduces it)."""
    query = urlencode([("action", action.value), *(("selected", t) for t in selected), ("back", back)])
    return f"{request.app.route_reverse('approvals:confirm')}?{query}"


def _returned_reason(returns: Returns, request: AnyRequest) -> tuple[str, str]:
    """A refused reason sent back without JavaScript, and its message ("" when none)."""
    returned = returns.take(request)
    return str(returned.form.get("reason", "")), returned.errors.get("reason", "")


def _back(request: AnyRequest, back: str) -> str:
    """Where a plain form returns: the table view it came from (never another site, and only
    the characters a URL of ours holds)."""
    base = request.app.route_reverse("approvals:table")
    safe = back.startswith(base) and "//" not in back and _URL_CHARS.fullmatch(back) is not None
    return back[:1000] if safe else base


def _action(value: str) -> Action:
    return Action.REJECT if value == Action.REJECT.value else Action.APPROVE


def _selected(values: list[Any]) -> list[str]:
    return service.selection([v for v in values if isinstance(v, str) and _tracking(v)])


def _notices(request: AnyRequest) -> Signed:
    """The message shown after a decision without JavaScript travels in the redirect's URL,
    signed so nobody can make the table say something the portal did not: a sentence and, after
    a bulk decision, each request and what became of it (compressed; at most 100 requests)."""
    return signed(request.app.state.settings.secret_key, "iacs.approvals-notice.v2", 300, max_length=8000)


def _with_notice(request: AnyRequest, url: str, notice: Notice) -> str:
    payload = [notice.text, [[o.tracking, o.text, o.ok] for o in notice.items]]
    return url + ("&" if "?" in url else "?") + urlencode({"done": _notices(request).dumps(payload)})


def _read_notice(request: AnyRequest, token: str | None) -> Notice | None:
    payload = _notices(request).loads(token, list)
    try:
        text, items = msgspec.convert(payload, tuple[str, list[tuple[str, str, bool]]])
    except msgspec.ValidationError:
        return None
    return Notice(text, tuple(Outcome(*item) for item in items))
