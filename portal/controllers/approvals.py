"""Approvals (spec Journey 4): the approver's table, row details, approve and reject inline,
bulk approval. With htmx the filters, sort and pages replace only the table and push their URL;
row actions swap only the row. Without JavaScript the same links and forms reload the page."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from portal.approvals import service
from portal.auth import client_ip, signed_in
from portal.crypto import mask
from portal.models import accounts as accounts_q
from portal.models import approvals as q
from portal.models import catalog as catalog_queries
from portal.models.registration import role_rules
from portal.registration.questions import QUESTIONS
from portal.signing import Signed, signed
from portal.web import parse_form, read_form, render, wants_fragment


class DecisionForm(msgspec.Struct):
    reason: str = ""
    back: str = ""


class BulkForm(msgspec.Struct):
    back: str = ""


async def _approver(request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    account = signed_in(request)
    rights = await accounts_q.approver_rights(account["account_id"])
    if not rights:
        raise PermissionDeniedException()
    return account, rights


def _back(request: Request, back: str) -> str:
    """Where a plain form returns: the table view it came from (never another site, and only
    the characters a URL of ours holds)."""
    base = request.app.route_reverse("approvals:table")
    safe = back.startswith(base) and "//" not in back and _URL_CHARS.fullmatch(back) is not None
    return back[:1000] if safe else base


_URL_CHARS = re.compile(r"[A-Za-z0-9/?&=%._~+-]*")
_TRACKING = re.compile(r"[A-Z0-9-]{1,20}")


def _tracking(value: str) -> str:
    """A tracking number from the URL, or "" (which no request has) when it cannot be one."""
    return value if _TRACKING.fullmatch(value) else ""


class ApprovalsController(Controller):
    path = "/approvals"
    include_in_schema = False

    @get("/", name="approvals:table")
    async def table(self, request: HTMXRequest) -> Template:
        """Query: application, role, overdue, q (name or tracking number), sort, dir, page; and
        done, the signed message after a decision without JavaScript."""
        approver, rights = await _approver(request)
        params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        view = q.QueueView.from_params(params)
        notice = _notices(request).loads(params.get("done")) or ""
        return await self._table(request, approver, rights, view, notice=notice)

    async def _table(
        self, request: Request, approver: dict, rights: list, view: q.QueueView, notice: str = ""
    ) -> Template:
        rows, total = await q.queue(approver, rights, view)
        apps = await catalog_queries.active_applications()
        allowed = {r["application"] for r in rights}
        if None not in allowed:
            apps = [a for a in apps if a.id in allowed]
        roles = sorted(
            {(r.code, r.name) for a in apps for r in a.roles if not view.application or a.code == view.application}
        )
        base = request.app.route_reverse("approvals:table")
        here = base + ("?" + urlencode(view.params()) if view.params() else "")
        pages = max(1, -(-total // q.PAGE_SIZE))
        context = {
            "rows": rows,
            "total": total,
            "view": view,
            "pages": pages,
            "applications": [(a.code, a.name) for a in apps],
            "roles": roles,
            "base": base,
            "here": here,
            "url": lambda **kw: base + "?" + urlencode(view.params(**kw)),
            "now": accounts_q.now(),
            "notice": notice,
            "approver": approver,
        }
        return render(request, "approvals/table.html", context, fragment="approvals/_rows.html", push_url=here)

    @get("/{tracking:str}", name="approvals:details")
    async def details(self, request: HTMXRequest, tracking: FromPath[str], back: FromQuery[str] = "") -> Template:
        approver, rights = await _approver(request)
        return await self._row(request, approver, rights, tracking, expanded=True, back=back)

    @get("/{tracking:str}/row", name="approvals:row")
    async def row(
        self, request: HTMXRequest, tracking: FromPath[str], back: FromQuery[str] = ""
    ) -> Template | Redirect:
        approver, rights = await _approver(request)
        if not wants_fragment(request):
            return Redirect(_back(request, back), status_code=303)
        return await self._row(request, approver, rights, tracking, back=back)

    @get("/{tracking:str}/reject", name="approvals:reject-form")
    async def reject_form(self, request: HTMXRequest, tracking: FromPath[str], back: FromQuery[str] = "") -> Template:
        approver, rights = await _approver(request)
        return await self._row(request, approver, rights, tracking, rejecting=True, back=back)

    @post("/{tracking:str}/approve", name="approvals:approve", status_code=200)
    async def approve(self, request: HTMXRequest, tracking: FromPath[str]) -> Template | Redirect:
        approver, rights = await _approver(request)
        form = await parse_form(request, DecisionForm)
        decision = await service.approve(
            approver, rights, _tracking(tracking), ip=client_ip(request), settings=request.app.state.settings
        )
        if decision.refused:
            raise NotFoundException()  # exactly like an unknown tracking number: no oracle
        return await self._after(request, approver, rights, tracking, decision, form.back)

    @post("/{tracking:str}/reject", name="approvals:reject", status_code=200)
    async def reject(self, request: HTMXRequest, tracking: FromPath[str]) -> Template | Redirect:
        approver, rights = await _approver(request)
        form = await parse_form(request, DecisionForm)
        decision = await service.reject(approver, rights, _tracking(tracking), form.reason, ip=client_ip(request))
        if decision.refused:
            raise NotFoundException()  # exactly like an unknown tracking number: no oracle
        if decision.error:
            return await self._row(
                request,
                approver,
                rights,
                tracking,
                rejecting=True,
                reason=form.reason[:2000],
                error=decision.error,
                back=form.back,
            )
        return await self._after(request, approver, rights, tracking, decision, form.back)

    @post("/bulk", name="approvals:bulk", status_code=200)
    async def bulk(self, request: HTMXRequest) -> Template | Redirect:
        """Approve every selected row; each is its own decision, exactly once."""
        approver, rights = await _approver(request)
        form = await parse_form(request, BulkForm)
        selected = [
            t for t in (await read_form(request)).getall("selected", []) if isinstance(t, str) and _tracking(t)
        ][:100]
        approved, skipped = 0, 0
        for tracking in selected:
            decision = await service.approve(
                approver, rights, tracking, ip=client_ip(request), settings=request.app.state.settings
            )
            approved += decision.ok
            skipped += not decision.ok
        notice = f"Approved {approved} request{'s' if approved != 1 else ''}."
        if skipped:
            notice += f" {skipped} could not be approved (already decided, or not yours to decide)."
        if not selected:
            notice = "Select at least one request to approve."
        back = _back(request, form.back)
        if not wants_fragment(request):
            return Redirect(_with_notice(request, back, notice), status_code=303)
        view = _view_from(back)
        return await self._table(request, approver, rights, view, notice=notice)

    async def _after(
        self, request: Request, approver, rights, tracking: str, decision, back: str
    ) -> Template | Redirect:
        if not wants_fragment(request):
            url = _back(request, back)
            return Redirect(
                _with_notice(request, url, f"{tracking}: {decision.message}"),
                status_code=303,
            )
        return await self._row(request, approver, rights, tracking, message=decision.message, ok=decision.ok, back=back)

    async def _row(
        self,
        request: Request,
        approver: dict,
        rights: list,
        tracking: str,
        *,
        expanded: bool = False,
        rejecting: bool = False,
        message: str = "",
        ok: bool = True,
        reason: str = "",
        error: str = "",
        back: str = "",
    ) -> Template:
        # Both queries whatever the answer, and one answer (404) for a request outside this
        # approver's rights and for no request at all: the table is no oracle of tracking numbers.
        tracking = _tracking(tracking)
        may_decide = await q.may_decide(approver, rights, tracking)
        row = await (q.request_full if expanded else q.request_row)(tracking)
        if row is None or not (may_decide or service.decided_in_their_applications(rights, row)):
            raise NotFoundException()
        context: dict[str, Any] = {
            "row": row,
            "expanded": expanded,
            "rejecting": rejecting,
            "message": message,
            "ok": ok,
            "reason": reason,
            "error": error,
            "now": accounts_q.now(),
            "back": _back(request, back),
            "may_decide": may_decide,
        }
        if expanded:
            context["details"] = await _details(request, row)
        return render(request, "approvals/request.html", context, fragment="approvals/_request.html")


def _notices(request: Request) -> Signed:
    """The message shown after a decision without JavaScript travels in the redirect's URL,
    signed so nobody can make the table say something the portal did not."""
    return signed(request.app.state.settings.secret_key, "iacs.approvals-notice.v1", 300, max_length=1000)


def _with_notice(request: Request, url: str, message: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({"done": _notices(request).dumps(message)})


def _view_from(url: str) -> q.QueueView:
    return q.QueueView.from_params({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})


async def _details(request: Request, full: dict[str, Any]) -> dict[str, Any]:
    """What an expanded row (``full``: its request_full) shows: SSN and TIN masked to the last
    four, and the audit trail."""
    cipher = request.app.state.cipher
    _, rules = await role_rules(full["application"])
    contact = full.get("contact") or {}
    fields = []
    for rule in rules.get(full["role_code"], []):
        value = (contact.get("fields") or {}).get(rule.key, "")
        fields.append((rule.label, mask(cipher.decrypt(value, rule.key)) if rule.sensitive and value else value))
    personal = full.get("personal") or {}
    return {
        "full": full,
        "contact": contact,
        "fields": fields,
        "ssn": mask(cipher.decrypt(personal["ssn"], "ssn")) if personal.get("ssn") else "",
        "date_of_birth": personal.get("date_of_birth", ""),
        "questions": [QUESTIONS.get(x["question"], "") for x in full.get("questions") or []],
        "audit": list(reversed(await accounts_q.audit_events(subject=full["tracking_number"]))),
    }
