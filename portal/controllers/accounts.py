"""Accounts (spec Journey 6): log in and out, the forced change of an initial password, My
applications, launching an application, self-service recovery, and Request another
application. Access rules are guards and route ``opt`` (see portal.auth)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from portal.accounts import service
from portal.accounts.passwords import MIN_LENGTH
from portal.accounts.questions import QUESTIONS
from portal.accounts.recovery import LinkSigner, RecoveryTicket, Tickets
from portal.auth import SessionCookies, client_ip, session_guard
from portal.controllers.role_fields import role_fields_fragment
from portal.crypto import FieldCipher
from portal.invisible import invisible_errors
from portal.links import Links
from portal.models import accounts as q
from portal.models import catalog as catalog_queries
from portal.models import registration as reg_q
from portal.models.rows import Application, LinkPurpose, SignedIn
from portal.registration import service as reg_service
from portal.registration.forms import LABELS, STATES, ContactForm
from portal.registration.service import Filed, Pending
from portal.settings import Settings
from portal.text import normalise_email
from portal.web import AnyRequest, parse_form, redirect, render, wants_fragment

AnyResponse = Template | Redirect | Response[Any]
RECOVERY_TITLES = {LinkPurpose.PASSWORD: "Forgot password", LinkPurpose.USER_ID: "Forgot User ID"}
# The page each emailed recovery link opens.
LINK_PAGES = {LinkPurpose.PASSWORD: "accounts:reset", LinkPurpose.USER_ID: "accounts:user-id-link"}
SIGNED_IN = {"signed_in": True}
SIGNED_IN_INITIAL = {"signed_in": True, "initial_password": True}  # reachable with an initial password


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


def _purpose(what: str) -> LinkPurpose:
    """The recovery journey a URL names, or 404."""
    try:
        return LinkPurpose(what)
    except ValueError:
        raise NotFoundException() from None


class AccountsController(Controller):
    include_in_schema = False
    guards = [session_guard]

    # ---- Log in / Log out ---------------------------------------------------------------------

    @get("/login", name="accounts:login")
    async def login(
        self, request: AnyRequest, signed_out: FromQuery[str] = "", reset: FromQuery[str] = ""
    ) -> AnyResponse:
        if request.state.get("signed_in"):
            return Redirect(request.app.route_reverse("accounts:applications"), status_code=303)
        return self._login_page(request, LoginForm(), {}, signed_out=bool(signed_out), reset=bool(reset))

    def _login_page(
        self,
        request: AnyRequest,
        form: LoginForm,
        errors: dict[str, str],
        *,
        signed_out: bool = False,
        reset: bool = False,
    ) -> Template:
        context = {"form": form, "errors": errors, "signed_out": signed_out, "reset": reset}
        return render(request, "accounts/login.html", context)

    @post("/login", name="accounts:login-submit", status_code=200, opt={"throttle": True})
    async def login_submit(
        self, request: AnyRequest, settings: NamedDependency[Settings], sessions: NamedDependency[SessionCookies]
    ) -> AnyResponse:
        form = await parse_form(request, LoginForm)
        errors = {}
        if not form.user_id.strip():
            errors["user_id"] = "Enter your User ID"
        if not form.password:
            errors["password"] = "Enter your password"
        errors |= invisible_errors(form, {"user_id": "User ID"}, skip=("password",))
        if errors:
            return self._login_page(request, LoginForm(user_id=form.user_id), errors)
        result = await service.login(form.user_id, form.password, secret_key=settings.secret_key, ip=client_ip(request))
        if not result.ok or result.account is None:
            return self._login_page(request, LoginForm(user_id=form.user_id[:20]), {"password": result.message})
        # A brand-new session id: whatever session cookie came with the request is never kept.
        old = sessions.token(request)
        if old:
            await q.delete_session(service.token_hash(old))
        target = "accounts:change-password" if result.account.password_initial else "accounts:applications"
        response = redirect(request, request.app.route_reverse(target))
        response.set_cookie(sessions.issue(result.session_token))
        return response

    @post("/logout", name="accounts:logout", status_code=200, opt={"initial_password": True})
    async def logout(self, request: AnyRequest, sessions: NamedDependency[SessionCookies]) -> AnyResponse:
        session = request.state.get("signed_in")
        await service.logout(sessions.token(request), session, ip=client_ip(request))
        response = redirect(request, request.app.route_reverse("accounts:login") + "?signed_out=1")
        response.set_cookie(sessions.clear())
        return response

    @post("/session/refresh", name="accounts:session-refresh", status_code=200, opt=SIGNED_IN_INITIAL)
    async def refresh(self, request: AnyRequest, session: NamedDependency[SignedIn]) -> AnyResponse:
        """Stay signed in: loading the session already moved its idle clock on. The warning is
        swapped in place with htmx; a plain form post (no JavaScript) goes back to My applications."""
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("accounts:applications"), status_code=303)
        return Template(template_name="accounts/_session_warning.html", context={"account": session})

    # ---- Change password ------------------------------------------------------------------------

    @get("/password/change", name="accounts:change-password", opt=SIGNED_IN_INITIAL)
    async def change_password(self, request: AnyRequest, session: NamedDependency[SignedIn]) -> Template:
        context = {"account": session, "errors": {}, "min_length": MIN_LENGTH}
        return render(request, "accounts/change_password.html", context)

    @post("/password/change", name="accounts:change-password-submit", status_code=200, opt=SIGNED_IN_INITIAL)
    async def change_password_submit(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionCookies],
    ) -> AnyResponse:
        form = await parse_form(request, ChangeForm)
        result = await service.change_password(
            session,
            form.current_password,
            form.new_password,
            form.confirm_password,
            secret_key=settings.secret_key,
            ip=client_ip(request),
        )
        if result.errors:
            context = {"account": session, "errors": result.errors, "min_length": MIN_LENGTH}
            return render(request, "accounts/change_password.html", context)
        response = redirect(request, request.app.route_reverse("accounts:applications") + "?changed=1")
        response.set_cookie(sessions.issue(result.session_token))
        return response

    # ---- My applications ----------------------------------------------------------------------

    @get("/my/applications", name="accounts:applications", opt=SIGNED_IN)
    async def applications(
        self, request: AnyRequest, session: NamedDependency[SignedIn], changed: FromQuery[str] = ""
    ) -> Template:
        grants = await q.grants_of(session.account_id)
        rights = await q.approver_rights(session.account_id)
        context = {"account": session, "grants": grants, "is_approver": bool(rights), "changed": bool(changed)}
        return render(request, "accounts/applications.html", context)

    @get("/apps/{code:str}", name="accounts:launch", opt=SIGNED_IN)
    async def launch(self, request: AnyRequest, session: NamedDependency[SignedIn], code: FromPath[str]) -> Template:
        """The application's landing page, only for an application the account was granted."""
        grants = [g for g in await q.grants_of(session.account_id) if g.application_code == code]
        if not grants:
            raise PermissionDeniedException()
        return render(request, "accounts/launch.html", {"account": session, "grant": grants[0]})

    # ---- Recovery -----------------------------------------------------------------------------

    @get("/recover/{what:str}", name="accounts:recover")
    async def recover(self, request: AnyRequest, what: FromPath[str]) -> Template:
        return _identify_page(request, _purpose(what), {}, IdentifyForm())

    @post("/recover/{what:str}", name="accounts:recover-identify", status_code=200, opt={"throttle": True})
    async def recover_identify(
        self,
        request: AnyRequest,
        what: FromPath[str],
        settings: NamedDependency[Settings],
        cipher: NamedDependency[FieldCipher],
    ) -> Template:
        purpose = _purpose(what)
        form = await parse_form(request, IdentifyForm)
        user_id = form.user_id.strip().upper()[:20] if purpose is LinkPurpose.PASSWORD else ""
        email = normalise_email(form.email[:254])
        errors = {}
        if purpose is LinkPurpose.PASSWORD and not user_id:
            errors["user_id"] = "Enter your User ID"
        if not form.email.strip():
            errors["email"] = "Enter the email address of your account"
        elif email is None:
            errors["email"] = "Enter an email address in the correct format, like name@example.com"
        errors |= invisible_errors(form, {"user_id": "User ID", "email": "Email address"})
        if errors or email is None:
            return _identify_page(request, purpose, errors, form)
        # The questions depend on the email address alone (see service.questions_for).
        keys = service.questions_for(await q.account_for_email(email), email, settings.secret_key)
        ticket = Tickets(cipher, settings.secret_key).seal(RecoveryTicket(u=user_id, e=email, w=purpose, k=keys))
        return _questions_page(request, purpose, keys, ticket, {})

    @post("/recover/{what:str}/answers", name="accounts:recover-answers", status_code=200, opt={"throttle": True})
    async def recover_answers(
        self,
        request: AnyRequest,
        what: FromPath[str],
        settings: NamedDependency[Settings],
        cipher: NamedDependency[FieldCipher],
    ) -> AnyResponse:
        purpose = _purpose(what)
        form = await parse_form(request, AnswersForm)
        ticket = Tickets(cipher, settings.secret_key).open(form.ticket, purpose)
        if ticket is None:
            return Redirect(request.app.route_reverse("accounts:recover", what=purpose), status_code=303)
        errors = {
            k: "Enter your answer"
            for k, v in (("answer_1", form.answer_1), ("answer_2", form.answer_2))
            if not v.strip()
        }
        errors |= invisible_errors(form, LABELS, skip=("ticket",))
        if errors:
            return _questions_page(request, purpose, ticket.k, form.ticket, errors)
        account = (
            await q.account_by_user_id_and_email(ticket.u, ticket.e)
            if purpose is LinkPurpose.PASSWORD
            else await q.account_for_email(ticket.e)
        )
        page = settings.base_url + request.app.route_reverse(LINK_PAGES[purpose])
        link_for = LinkSigner(settings.secret_key, purpose).link_for(page)
        answers = [form.answer_1[:200], form.answer_2[:200]]
        await service.recover(purpose, account, ticket.k, answers, link_for, ip=client_ip(request))
        context = {"what": purpose, "title": RECOVERY_TITLES[purpose]}
        return render(request, "accounts/recover_sent.html", context)

    @get("/recover/reset", name="accounts:reset")
    async def reset(
        self, request: AnyRequest, settings: NamedDependency[Settings], token: FromQuery[str] = ""
    ) -> Template:
        usable = await _link_usable(settings, token, LinkPurpose.PASSWORD)
        context = {"token": token, "usable": usable, "errors": {}, "min_length": MIN_LENGTH}
        return render(request, "accounts/reset.html", context)

    @post("/recover/reset", name="accounts:reset-submit", status_code=200, opt={"throttle": True})
    async def reset_submit(self, request: AnyRequest, settings: NamedDependency[Settings]) -> AnyResponse:
        form = await parse_form(request, ResetForm)
        errors = await service.reset_password(
            _link_hash(settings, form.token, LinkPurpose.PASSWORD),
            form.new_password,
            form.confirm_password,
            secret_key=settings.secret_key,
            ip=client_ip(request),
        )
        if not errors:
            return Redirect(request.app.route_reverse("accounts:login") + "?reset=1", status_code=303)
        context = {"token": form.token, "usable": True, "errors": errors, "min_length": MIN_LENGTH}
        return render(request, "accounts/reset.html", context)

    @get("/recover/user-id/show", name="accounts:user-id-link")
    async def user_id_link(
        self, request: AnyRequest, settings: NamedDependency[Settings], token: FromQuery[str] = ""
    ) -> Template:
        """The emailed link: a button, so that a mail scanner opening the link spends nothing."""
        usable = await _link_usable(settings, token, LinkPurpose.USER_ID)
        return render(request, "accounts/user_id_link.html", {"token": token, "usable": usable, "user_id": None})

    @post("/recover/user-id/show", name="accounts:user-id-reveal", status_code=200, opt={"throttle": True})
    async def user_id_reveal(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Template:
        form = await parse_form(request, LinkForm)
        link_hash = _link_hash(settings, form.token, LinkPurpose.USER_ID)
        user_id = await service.reveal_user_id(link_hash, ip=client_ip(request))
        return render(request, "accounts/user_id_link.html", {"token": "", "usable": True, "user_id": user_id})


def _identify_page(request: AnyRequest, what: LinkPurpose, errors: dict[str, str], form: IdentifyForm) -> Template:
    context = {"what": what, "title": RECOVERY_TITLES[what], "errors": errors, "form": form}
    return render(request, "accounts/recover_identify.html", context)


def _questions_page(
    request: AnyRequest, what: LinkPurpose, keys: list[str], ticket: str, errors: dict[str, str]
) -> Template:
    """The two questions to answer: the account's own, or (no account) the same two stand-ins
    every time for the same email address."""
    context = {
        "what": what,
        "title": RECOVERY_TITLES[what],
        "questions": [QUESTIONS[k] for k in keys],
        "ticket": ticket,
        "errors": errors,
    }
    return render(request, "accounts/recover_questions.html", context)


def _link_hash(settings: Settings, token: str, purpose: LinkPurpose) -> str:
    """The stored hash of a recovery link's id ("" when the token is not a recent link of ours:
    no stored link has that hash, so it is spent)."""
    return LinkSigner(settings.secret_key, purpose).link_hash(token) or ""


async def _link_usable(settings: Settings, token: str, purpose: LinkPurpose) -> bool:
    link_hash = _link_hash(settings, token, purpose)
    return bool(link_hash) and await q.reset_is_usable(link_hash, purpose)


class RequestAnotherController(Controller):
    """Request another application, for a signed-in account holder."""

    path = "/my/request"
    include_in_schema = False
    guards = [session_guard]
    opt = SIGNED_IN

    @get("/", name="accounts:request-start")
    async def start(self, request: AnyRequest, session: NamedDependency[SignedIn]) -> Template:
        granted = {g.application_code for g in await q.grants_of(session.account_id)}
        apps = [a for a in await catalog_queries.active_applications(with_roles=False) if a.code not in granted]
        return render(request, "accounts/request_start.html", {"account": session, "applications": apps})

    @get("/{code:str}", name="accounts:request-form")
    async def form(
        self, request: AnyRequest, session: NamedDependency[SignedIn], code: FromPath[str], role: FromQuery[str] = ""
    ) -> Template:
        app = await _application(code)
        form = await reg_service.holder_contact_form(session.email, role[:40])
        return await self._render(request, session, app, form, {})

    @get("/{code:str}/fields", name="accounts:request-fields")
    async def fields(self, request: AnyRequest, code: FromPath[str], role: FromQuery[str] = "") -> AnyResponse:
        app = await _application(code)
        if not wants_fragment(request):  # the page itself, with that role's fields
            url = request.app.route_reverse("accounts:request-form", code=code) + "?" + urlencode({"role": role[:40]})
            return Redirect(url, status_code=303)
        return await role_fields_fragment(app.id, role[:40])

    @post("/{code:str}", name="accounts:request-submit", status_code=200)
    async def submit(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        cipher: NamedDependency[FieldCipher],
        links: NamedDependency[Links],
        code: FromPath[str],
    ) -> Template:
        app = await _application(code)
        form = await parse_form(request, ContactForm, rest_as_fields=True)
        if form.action == "role":
            return await self._render(request, session, app, form, {})
        result = await reg_service.submit_for_holder(
            session, app, form, cipher=cipher, links=links, ip=client_ip(request)
        )
        if isinstance(result, Filed | Pending):
            context = {
                "account": session,
                "app": app,
                "tracking_number": result.tracking_number,
                "pending": isinstance(result, Pending),
            }
            return render(request, "accounts/request_done.html", context)
        return await self._render(request, session, app, form, result.errors)

    async def _render(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        app: Application,
        form: ContactForm,
        errors: dict[str, str],
    ) -> Template:
        rules = await reg_q.role_rules(app.id)
        context = {
            "account": session,
            "app": app,
            "form": form,
            "errors": errors,
            "states": STATES,
            "role_options": [(r.code, r.name) for r in rules.roles],
            "rules": rules.of(form.role),
            "saved_fields": {},
            "fields_url": request.app.route_reverse("accounts:request-fields", code=app.code),
        }
        return render(request, "accounts/request_form.html", context)


async def _application(code: str) -> Application:
    app = await reg_q.application_by_code(code)
    if app is None:
        raise NotFoundException()
    return app
