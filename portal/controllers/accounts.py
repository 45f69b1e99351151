"""Accounts (spec Journey 6): log in and out, the forced change of an initial password, My
applications, launching an application, and self-service recovery."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from portal.accounts import service
from portal.accounts.passwords import MIN_LENGTH
from portal.auth import client_ip, signed_in
from portal.controllers.registration import role_fields_fragment
from portal.crypto import DataKeyError, FieldCipher
from portal.invisible import invisible_errors
from portal.models import accounts as q
from portal.models import registration as reg_q
from portal.registration import service as reg_service
from portal.registration.forms import LABELS, ContactForm, normalise_email
from portal.registration.questions import QUESTIONS
from portal.signing import Signed, signed
from portal.web import parse_form, redirect, render, wants_fragment

RECOVERY_SALT = "iacs.recovery-ticket.v2"  # v2: the ticket is encrypted (v1 carried the identifier in clear)
RESET_SALT = "iacs.password-reset.v1"
USER_ID_SALT = "iacs.user-id-link.v1"
RECOVERY_WHAT = {"password": "Forgot password", "user-id": "Forgot User ID"}
# What each recovery emails: a link signed with its own salt, to its own page.
RECOVERY_LINKS = {"password": (RESET_SALT, "accounts:reset"), "user-id": (USER_ID_SALT, "accounts:user-id-link")}


class LoginForm(msgspec.Struct):
    user_id: str = ""
    password: str = ""


class ChangeForm(msgspec.Struct):
    current_password: str = ""
    new_password: str = ""
    confirm_password: str = ""


class IdentifyForm(msgspec.Struct):
    user_id: str = ""  # Forgot password only
    email: str = ""


class AnswersForm(msgspec.Struct):
    ticket: str = ""
    answer_1: str = ""
    answer_2: str = ""


class ResetForm(msgspec.Struct):
    token: str = ""
    new_password: str = ""
    confirm_password: str = ""


class LinkForm(msgspec.Struct):
    token: str = ""


class AccountsController(Controller):
    include_in_schema = False

    # ---- Log in / Log out ---------------------------------------------------------------------

    @get("/login", name="accounts:login")
    async def login(self, request: HTMXRequest) -> Template | Redirect:
        if getattr(request.state, "account", None):
            return Redirect(request.app.route_reverse("accounts:applications"), status_code=303)
        return render(request, "accounts/login.html", {"form": LoginForm(), "errors": {}, "message": ""})

    @post("/login", name="accounts:login-submit", status_code=200)
    async def login_submit(self, request: HTMXRequest) -> Template | Response:
        form = await parse_form(request, LoginForm)
        errors = {}
        if not form.user_id.strip():
            errors["user_id"] = "Enter your User ID"
        if not form.password:
            errors["password"] = "Enter your password"
        errors |= invisible_errors(form, {"user_id": "User ID"}, skip=("password",))
        if errors:
            return render(
                request,
                "accounts/login.html",
                {"form": LoginForm(user_id=form.user_id), "errors": errors, "message": ""},
            )
        secret_key = request.app.state.settings.secret_key
        result = await service.login(form.user_id, form.password, secret_key=secret_key, ip=client_ip(request))
        if not result.ok:
            return render(
                request,
                "accounts/login.html",
                {"form": LoginForm(user_id=form.user_id[:20]), "errors": {"password": result.message}, "message": ""},
            )
        # A brand-new session id: whatever session cookie came with the request is never kept.
        old = request.app.state.sessions.token(request)
        if old:
            await q.delete_session(service.token_hash(old))
        target = "accounts:change-password" if result.account["password_initial"] else "accounts:applications"
        response = redirect(request, request.app.route_reverse(target))
        response.set_cookie(request.app.state.sessions.issue(result.session_token))
        return response

    @post("/logout", name="accounts:logout", status_code=200)
    async def logout(self, request: HTMXRequest) -> Response:
        sessions = request.app.state.sessions
        await service.logout(sessions.token(request), request.state.account, ip=client_ip(request))
        response = redirect(request, request.app.route_reverse("accounts:login") + "?signed_out=1")
        response.set_cookie(sessions.clear())
        return response

    @post("/session/refresh", name="accounts:session-refresh", status_code=200)
    async def refresh(self, request: HTMXRequest) -> Template | Redirect:
        """Stay signed in: loading the session already moved its idle clock on. The warning is
        swapped in place with htmx; a plain form post (no JavaScript) goes back to My applications."""
        account = signed_in(request)
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("accounts:applications"), status_code=303)
        return Template(template_name="accounts/_session_warning.html", context={"account": account})

    # ---- Change password ------------------------------------------------------------------------

    @get("/password/change", name="accounts:change-password")
    async def change_password(self, request: HTMXRequest) -> Template:
        account = signed_in(request)
        return render(
            request, "accounts/change_password.html", {"account": account, "errors": {}, "min_length": MIN_LENGTH}
        )

    @post("/password/change", name="accounts:change-password-submit", status_code=200)
    async def change_password_submit(self, request: HTMXRequest) -> Template | Response:
        account = signed_in(request)
        form = await parse_form(request, ChangeForm)
        result = await service.change_password(
            account,
            form.current_password,
            form.new_password,
            form.confirm_password,
            secret_key=request.app.state.settings.secret_key,
            ip=client_ip(request),
        )
        if result.errors:
            return render(
                request,
                "accounts/change_password.html",
                {"account": account, "errors": result.errors, "min_length": MIN_LENGTH},
            )
        response = redirect(request, request.app.route_reverse("accounts:applications") + "?changed=1")
        response.set_cookie(request.app.state.sessions.issue(result.session_token))
        return response

    # ---- My applications ----------------------------------------------------------------------

    @get("/my/applications", name="accounts:applications")
    async def applications(self, request: HTMXRequest, changed: FromQuery[str] = "") -> Template:
        account = signed_in(request)
        grants = await q.grants_of(account["account_id"])
        rights = await q.approver_rights(account["account_id"])
        return render(
            request,
            "accounts/applications.html",
            {
                "account": account,
                "grants": grants,
                "is_approver": bool(rights),
                "changed": bool(changed),
            },
        )

    @get("/apps/{code:str}", name="accounts:launch")
    async def launch(self, request: HTMXRequest, code: FromPath[str]) -> Template:
        """The application's landing page, only for an application the account was granted."""
        account = signed_in(request)
        grants = [g for g in await q.grants_of(account["account_id"]) if g["application_code"] == code]
        if not grants:
            raise PermissionDeniedException()
        return render(request, "accounts/launch.html", {"account": account, "grant": grants[0]})

    # ---- Recovery -----------------------------------------------------------------------------

    @get("/recover/{what:str}", name="accounts:recover")
    async def recover(self, request: HTMXRequest, what: FromPath[str]) -> Template:
        if what not in RECOVERY_WHAT:
            raise NotFoundException()
        return _identify_page(request, what, {})

    @post("/recover/{what:str}", name="accounts:recover-identify", status_code=200)
    async def recover_identify(self, request: HTMXRequest, what: FromPath[str]) -> Template:
        if what not in RECOVERY_WHAT:
            raise NotFoundException()
        form = await parse_form(request, IdentifyForm)
        user_id = form.user_id.strip().upper()[:20] if what == "password" else ""
        email = normalise_email(form.email[:254])
        errors = {}
        if what == "password" and not user_id:
            errors["user_id"] = "Enter your User ID"
        if not form.email.strip():
            errors["email"] = "Enter the email address of your account"
        elif email is None:
            errors["email"] = "Enter an email address in the correct format, like name@example.com"
        errors |= invisible_errors(form, {"user_id": "User ID", "email": "Email address"})
        if errors or email is None:
            return _identify_page(request, what, errors, form)
        # The questions depend on the email address alone (see service.questions_for).
        keys = service.questions_for(await q.account_for_email(email), email, request.app.state.settings.secret_key)
        ticket = _tickets(request).seal(RecoveryTicket(u=user_id, e=email, w=what, k=keys))
        return _questions_page(request, what, keys, ticket, {})

    @post("/recover/{what:str}/answers", name="accounts:recover-answers", status_code=200)
    async def recover_answers(self, request: HTMXRequest, what: FromPath[str]) -> Template | Redirect:
        if what not in RECOVERY_WHAT:
            raise NotFoundException()
        form = await parse_form(request, AnswersForm)
        ticket = _tickets(request).open(form.ticket)
        if ticket is None or ticket.w != what:
            return Redirect(request.app.route_reverse("accounts:recover", what=what), status_code=303)
        errors = {
            k: "Enter your answer"
            for k, v in (("answer_1", form.answer_1), ("answer_2", form.answer_2))
            if not v.strip()
        }
        errors |= invisible_errors(form, LABELS, skip=("ticket",))
        if errors:
            return _questions_page(request, what, ticket.k, form.ticket, errors)
        account = (
            await q.account_by_user_id_and_email(ticket.u, ticket.e)
            if what == "password"
            else await q.account_for_email(ticket.e)
        )
        settings = request.app.state.settings
        salt, route = RECOVERY_LINKS[what]

        def link_for(link_id: str) -> str:
            token = _signed(request, salt).dumps(link_id)
            return f"{settings.base_url}{request.app.route_reverse(route)}?token={token}"

        answers = [form.answer_1[:200], form.answer_2[:200]]
        await service.recover(what, account, ticket.k, answers, link_for, ip=client_ip(request))
        return render(request, "accounts/recover_sent.html", {"what": what, "title": RECOVERY_WHAT[what]})

    @get("/recover/reset", name="accounts:reset")
    async def reset(self, request: HTMXRequest, token: FromQuery[str] = "") -> Template:
        usable = await _link_usable(request, token, "password")
        return render(
            request, "accounts/reset.html", {"token": token, "usable": usable, "errors": {}, "min_length": MIN_LENGTH}
        )

    @post("/recover/reset", name="accounts:reset-submit", status_code=200)
    async def reset_submit(self, request: HTMXRequest) -> Template | Response:
        form = await parse_form(request, ResetForm)
        link_hash = _link_hash(request, form.token, RESET_SALT)
        errors = (
            await service.reset_password(
                link_hash,
                form.new_password,
                form.confirm_password,
                secret_key=request.app.state.settings.secret_key,
                ip=client_ip(request),
            )
            if link_hash
            else None
        )
        if errors == {}:
            return Redirect(request.app.route_reverse("accounts:login") + "?reset=1", status_code=303)
        context = {"token": form.token, "usable": errors is not None, "errors": errors or {}, "min_length": MIN_LENGTH}
        return render(request, "accounts/reset.html", context)

    @get("/recover/user-id/show", name="accounts:user-id-link")
    async def user_id_link(self, request: HTMXRequest, token: FromQuery[str] = "") -> Template:
        """The emailed link: a button, so that a mail scanner opening the link spends nothing."""
        usable = await _link_usable(request, token, "user-id")
        return render(request, "accounts/user_id_link.html", {"token": token, "usable": usable, "user_id": None})

    @post("/recover/user-id/show", name="accounts:user-id-reveal", status_code=200)
    async def user_id_reveal(self, request: HTMXRequest) -> Template:
        form = await parse_form(request, LinkForm)
        link_hash = _link_hash(request, form.token, USER_ID_SALT)
        user_id = await service.reveal_user_id(link_hash, ip=client_ip(request)) if link_hash else None
        context = {"token": "", "usable": user_id is not None, "user_id": user_id}
        return render(request, "accounts/user_id_link.html", context)


def _identify_page(request: Request, what: str, errors: dict[str, str], form: IdentifyForm | None = None) -> Template:
    return render(
        request,
        "accounts/recover_identify.html",
        {"what": what, "title": RECOVERY_WHAT[what], "errors": errors, "form": form or IdentifyForm()},
    )


def _questions_page(request: Request, what: str, keys: list[str], ticket: str, errors: dict[str, str]) -> Template:
    """The two questions to answer: the account's own, or (no account) the same two stand-ins
    every time for the same email address."""
    return render(
        request,
        "accounts/recover_questions.html",
        {
            "what": what,
            "title": RECOVERY_WHAT[what],
            "questions": [QUESTIONS[k] for k in keys],
            "ticket": ticket,
            "errors": errors,
        },
    )


TICKET_AGE = 900  # the questions step: 15 minutes


class RecoveryTicket(msgspec.Struct, frozen=True):
    """What the questions page carries to the answers: the typed User ID and email, the
    journey, and the question keys asked."""

    u: str
    e: str
    w: str
    k: list[str]


class Tickets:
    """Recovery tickets: encrypted (AES-GCM with ``PORTAL_DATA_KEY``), so the typed User ID
    and email never travel in clear in the page, then signed and timed (15 minutes)."""

    PURPOSE = "recovery-ticket"

    def __init__(self, cipher: FieldCipher, signer: Signed) -> None:
        self._cipher = cipher
        self._signer = signer

    def seal(self, ticket: RecoveryTicket) -> str:
        return self._signer.dumps(self._cipher.encrypt(msgspec.json.encode(ticket).decode(), self.PURPOSE))

    def open(self, token: str) -> RecoveryTicket | None:
        sealed = self._signer.loads(token)
        if sealed is None:
            return None
        try:
            ticket = msgspec.json.decode(self._cipher.decrypt(sealed, self.PURPOSE), type=RecoveryTicket)
        except (DataKeyError, msgspec.DecodeError):
            return None
        return ticket if len(ticket.k) == 2 and all(k in QUESTIONS for k in ticket.k) else None


def _tickets(request: Request) -> Tickets:
    settings = request.app.state.settings
    return Tickets(request.app.state.cipher, signed(settings.secret_key, RECOVERY_SALT, TICKET_AGE, max_length=1200))


# How long each emailed link's signature lives: 30 minutes.
_MAX_AGE = {RESET_SALT: int(service.RESET_LIFETIME.total_seconds())}
_MAX_AGE[USER_ID_SALT] = _MAX_AGE[RESET_SALT]


def _signed(request: Request, salt: str) -> Signed:
    return signed(request.app.state.settings.secret_key, salt, _MAX_AGE[salt])


def _link_hash(request: Request, token: str, salt: str) -> str | None:
    """The stored hash of a recovery link's id, when ``token`` is a link signed with ``salt``
    in the last 30 minutes; None otherwise."""
    link_id = _signed(request, salt).loads(token)
    return service.token_hash(link_id) if link_id else None


async def _link_usable(request: Request, token: str, what: str) -> bool:
    link_hash = _link_hash(request, token, RECOVERY_LINKS[what][0])
    return link_hash is not None and await q.reset_is_usable(link_hash, what)


class RequestAnotherController(Controller):
    """Request another application, for a signed-in account holder."""

    path = "/my/request"
    include_in_schema = False

    @get("/", name="accounts:request-start")
    async def start(self, request: HTMXRequest) -> Template:
        account = signed_in(request)
        from portal.models import catalog as catalog_queries

        granted = {g["application_code"] for g in await q.grants_of(account["account_id"])}
        apps = [a for a in await catalog_queries.active_applications(with_roles=False) if a.code not in granted]
        return render(request, "accounts/request_start.html", {"account": account, "applications": apps})

    @get("/{code:str}", name="accounts:request-form")
    async def form(self, request: HTMXRequest, code: FromPath[str], role: FromQuery[str] = "") -> Template:
        account = signed_in(request)
        app = await reg_q.application_by_code(code)
        if app is None:
            raise NotFoundException()
        form = await reg_service.holder_contact_form(account["email"], role[:40])
        return await self._render(request, account, app, form, {})

    @get("/{code:str}/fields", name="accounts:request-fields")
    async def fields(self, request: HTMXRequest, code: FromPath[str], role: FromQuery[str] = "") -> Template:
        signed_in(request)
        app = await reg_q.application_by_code(code)
        if app is None:
            raise NotFoundException()
        if not wants_fragment(request):  # the page itself, with that role's fields
            url = request.app.route_reverse("accounts:request-form", code=code) + "?" + urlencode({"role": role[:40]})
            return Redirect(url, status_code=303)
        return await role_fields_fragment(app["id"], role[:40])

    @post("/{code:str}", name="accounts:request-submit", status_code=200)
    async def submit(self, request: HTMXRequest, code: FromPath[str]) -> Template:
        account = signed_in(request)
        app = await reg_q.application_by_code(code)
        if app is None:
            raise NotFoundException()
        form = await parse_form(request, ContactForm)
        if form.action == "role":
            return await self._render(request, account, app, form, {})
        settings = request.app.state.settings
        outcome = await reg_service.submit_for_holder(
            account,
            app,
            form,
            cipher=request.app.state.cipher,
            status_url=settings.base_url + request.app.route_reverse("status:form"),
        )
        if outcome.errors.get("_pending"):
            return render(
                request,
                "accounts/request_done.html",
                {"account": account, "app": app, "tracking_number": outcome.errors["_pending"], "pending": True},
            )
        if outcome.errors:
            return await self._render(request, account, app, form, outcome.errors)
        await q.audit(
            "request_submitted",
            actor=account["user_id"],
            subject=outcome.tracking_number,
            ip=client_ip(request),
            application=code,
        )
        return render(
            request,
            "accounts/request_done.html",
            {"account": account, "app": app, "tracking_number": outcome.tracking_number, "pending": False},
        )

    async def _render(self, request: Request, account: dict, app: dict, form: ContactForm, errors: dict) -> Template:
        from portal.registration.forms import STATES

        roles, rules = await reg_q.role_rules(app["id"])
        return render(
            request,
            "accounts/request_form.html",
            {
                "account": account,
                "app": app,
                "form": form,
                "errors": errors,
                "states": STATES,
                "roles": roles,
                "role_options": [(r["code"], r["name"]) for r in roles],
                "rules": rules.get(form.role, []),
                "fields_url": request.app.route_reverse("accounts:request-fields", code=app["code"]),
            },
        )
