"""Accounts (spec Journey 6): log in and out, the forced change of an initial password, My
applications (each "Log in to X" goes to X, which signs in through the portal: see
controllers/sso.py), self-service recovery, and Request another
application. Access rules are guards and route ``opt`` (see portal.auth).

Post/redirect/get: without JavaScript every form here answers 303. A refused one goes back to
its page with what was typed and the messages in the returned-form cookie (portal/returns.py),
never a password, an answer or a code; a recovery step carries its ticket or link token in the
URL. An htmx request keeps its answer in place."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from portal.accounts import service
from portal.accounts.passwords import MIN_LENGTH
from portal.accounts.questions import QUESTIONS
from portal.accounts.recovery import LinkSigner, RecoveryTicket, Tickets
from portal.auth import Continuation, SessionCookies, client_ip, session_guard
from portal.controllers.role_fields import role_fields_fragment
from portal.crypto import FieldCipher
from portal.errors import LinkSpent
from portal.invisible import invisible_errors
from portal.links import Links
from portal.models import accounts as q
from portal.models import oidc as oidc_q
from portal.models import registration as reg_q
from portal.models.rows import Application, LinkPurpose, SignedIn
from portal.registration import another
from portal.registration.another import RequestForm
from portal.registration.forms import LABELS, STATES
from portal.registration.service import Filed, Pending
from portal.returns import Returns
from portal.settings import Settings
from portal.text import normalise_email
from portal.web import AnyRequest, parse_form, redirect, render, wants_fragment

AnyResponse = Template | Redirect | Response[Any]
RECOVERY_TITLES = {LinkPurpose.PASSWORD: "Forgot password", LinkPurpose.USER_ID: "Forgot User ID"}
# The page each emailed recovery link opens.
LINK_PAGES = {LinkPurpose.PASSWORD: "accounts:reset", LinkPurpose.USER_ID: "accounts:user-id-link"}
SIGNED_IN = {"signed_in": True}
SIGNED_IN_INITIAL = {"signed_in": True, "initial_password": True}  # reachable with an initial password
ANY_SESSION = {"initial_password": True, "mfa_setup": True}  # and before a second factor is set up


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
    answer_3: str = ""

    def answers(self, count: int) -> list[tuple[str, str]]:
        """The first ``count`` answers with their field names."""
        return [("answer_1", self.answer_1), ("answer_2", self.answer_2), ("answer_3", self.answer_3)][:count]


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
        self,
        request: AnyRequest,
        returns: NamedDependency[Returns],
        continuation: NamedDependency[Continuation],
        signed_out: FromQuery[str] = "",
        reset: FromQuery[str] = "",
        again: FromQuery[str] = "",
    ) -> AnyResponse:
        pending = continuation.read(request)
        if request.state.get("signed_in"):
            target = pending.url if pending else request.app.route_reverse("accounts:applications")
            return Redirect(target, status_code=303)
        returned = returns.take(request)  # a refused sign-in: the typed User ID and the message
        hinted = LoginForm(user_id=pending.hint) if pending else LoginForm()  # an application's login_hint
        form = returns.form_as(returned, LoginForm) or hinted
        return self._login_page(
            request,
            form,
            returned.errors,
            signed_out=bool(signed_out),
            reset=bool(reset),
            again=bool(again),
            continuing_to=pending.application if pending else "",
        )

    def _login_page(
        self,
        request: AnyRequest,
        form: LoginForm,
        errors: dict[str, str],
        *,
        signed_out: bool = False,
        reset: bool = False,
        again: bool = False,
        continuing_to: str = "",
    ) -> Template:
        context = {"form": form, "errors": errors, "signed_out": signed_out, "reset": reset, "again": again}
        context["continuing_to"] = continuing_to  # an application is waiting for this sign-in
        return render(request, "accounts/login.html", context)

    @post("/login", name="accounts:login-submit", status_code=200, opt={"throttle": True})
    async def login_submit(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionCookies],
        returns: NamedDependency[Returns],
        continuation: NamedDependency[Continuation],
    ) -> AnyResponse:
        form = await parse_form(request, LoginForm)
        errors = {}
        if not form.user_id.strip():
            errors["user_id"] = "Enter your User ID"
        if not form.password:
            errors["password"] = "Enter your password"
        errors |= invisible_errors(form, {"user_id": "User ID"}, skip=("password",))
        ip = client_ip(request)
        result = (
            None
            if errors
            else await service.login(
                form.user_id, form.password, secret_key=settings.secret_key, ip=ip, mfa_mode=settings.mfa_required
            )
        )
        if result is not None and not result.ok:
            errors = {"password": result.message}
        if errors or result is None or result.account is None:  # back with the typed User ID, never the password
            typed = LoginForm(user_id=form.user_id[:40])
            back = returns.back(request, request.app.route_reverse("accounts:login"), form=typed, errors=errors)
            return back or self._login_page(request, typed, errors)
        if result.second_step:  # no session yet: the second step's page, with the halfway sign-in
            response = redirect(request, request.app.route_reverse("mfa:second-step"))
            response.set_cookie(sessions.issue_halfway(result.session_token))
            return response
        # A brand-new session id: whatever session cookie came with the request is never kept.
        old = sessions.token(request)
        if old:
            await q.delete_session(service.token_hash(old))
        if result.account.password_initial:
            target = request.app.route_reverse("accounts:change-password")
        else:
            landing = request.app.route_reverse(await service.landing(result.account.id))
            target = continuation.next_url(request) or landing  # an application waiting for this sign-in
        response = redirect(request, target)
        response.set_cookie(sessions.issue(result.session_token))
        return response

    @post("/logout", name="accounts:logout", status_code=200, opt=ANY_SESSION)
    async def logout(self, request: AnyRequest, sessions: NamedDependency[SessionCookies]) -> AnyResponse:
        session = request.state.get("signed_in")
        await service.logout(sessions.token(request), session, ip=client_ip(request))
        response = redirect(request, request.app.route_reverse("accounts:login") + "?signed_out=1")
        response.set_cookie(sessions.clear())
        return response

    @post("/session/refresh", name="accounts:session-refresh", status_code=200, opt={**ANY_SESSION, "signed_in": True})
    async def refresh(self, request: AnyRequest, session: NamedDependency[SignedIn]) -> AnyResponse:
        """Stay signed in: loading the session already moved its idle clock on. The warning is
        swapped in place with htmx; a plain form post (no JavaScript) goes back to My applications."""
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("accounts:applications"), status_code=303)
        return Template(template_name="accounts/_session_warning.html", context={"account": session})

    # ---- Change password ------------------------------------------------------------------------

    @get("/password/change", name="accounts:change-password", opt=SIGNED_IN_INITIAL)
    async def change_password(
        self, request: AnyRequest, session: NamedDependency[SignedIn], returns: NamedDependency[Returns]
    ) -> Template:
        return _change_page(request, session, returns.take(request).errors)  # no password is carried

    @post("/password/change", name="accounts:change-password-submit", status_code=200, opt=SIGNED_IN_INITIAL)
    async def change_password_submit(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionCookies],
        returns: NamedDependency[Returns],
        continuation: NamedDependency[Continuation],
    ) -> AnyResponse:
        form = await parse_form(request, ChangeForm)
        result = await service.change_password(
            session,
            form.current_password,
            form.new_password,
            form.confirm_password,
            secret_key=settings.secret_key,
            ip=client_ip(request),
            mfa_mode=settings.mfa_required,
        )
        if result.errors:
            back = returns.back(request, request.app.route_reverse("accounts:change-password"), errors=result.errors)
            return back or _change_page(request, session, result.errors)
        target = continuation.next_url(request) or request.app.route_reverse("accounts:applications") + "?changed=1"
        response = redirect(request, target)
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
        context["login_urls"] = await oidc_q.login_urls()  # "Log in to X": X's own sign-in, through IACS
        return render(request, "accounts/applications.html", context)

    # ---- Recovery -----------------------------------------------------------------------------

    @get("/recover/{what:str}", name="accounts:recover")
    async def recover(self, request: AnyRequest, what: FromPath[str], returns: NamedDependency[Returns]) -> Template:
        returned = returns.take(request)
        form = returns.form_as(returned, IdentifyForm) or IdentifyForm()
        return _identify_page(request, _purpose(what), returned.errors, form)

    @post("/recover/{what:str}", name="accounts:recover-identify", status_code=200, opt={"throttle": True})
    async def recover_identify(
        self,
        request: AnyRequest,
        what: FromPath[str],
        settings: NamedDependency[Settings],
        cipher: NamedDependency[FieldCipher],
        returns: NamedDependency[Returns],
    ) -> AnyResponse:
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
            typed = IdentifyForm(user_id=form.user_id[:40], email=form.email[:254])
            here = request.app.route_reverse("accounts:recover", what=purpose)
            return returns.back(request, here, form=typed, errors=errors) or _identify_page(
                request, purpose, errors, typed
            )
        # The questions depend on the email address alone (see service.questions_for).
        keys = service.questions_for(await q.account_for_email(email), email, settings.secret_key)
        ticket = Tickets(cipher, settings.secret_key).seal(RecoveryTicket(u=user_id, e=email, w=purpose, k=keys))
        if wants_fragment(request):
            return _questions_page(request, purpose, keys, ticket, {})
        return Redirect(_questions_url(request, purpose, ticket), status_code=303)

    @get("/recover/{what:str}/answers", name="accounts:recover-questions")
    async def recover_questions(
        self,
        request: AnyRequest,
        what: FromPath[str],
        settings: NamedDependency[Settings],
        cipher: NamedDependency[FieldCipher],
        returns: NamedDependency[Returns],
        ticket: FromQuery[str] = "",
    ) -> AnyResponse:
        """The questions; the encrypted ticket (15 minutes) rides in the URL."""
        purpose = _purpose(what)
        opened = Tickets(cipher, settings.secret_key).open(ticket, purpose)
        if opened is None:
            return Redirect(request.app.route_reverse("accounts:recover", what=purpose), status_code=303)
        errors = returns.take(request).errors  # refused answers: the messages only, never the answers
        return _questions_page(request, purpose, opened.k, ticket, errors)

    @post("/recover/{what:str}/answers", name="accounts:recover-answers", status_code=200, opt={"throttle": True})
    async def recover_answers(
        self,
        request: AnyRequest,
        what: FromPath[str],
        settings: NamedDependency[Settings],
        cipher: NamedDependency[FieldCipher],
        returns: NamedDependency[Returns],
    ) -> AnyResponse:
        purpose = _purpose(what)
        form = await parse_form(request, AnswersForm)
        ticket = Tickets(cipher, settings.secret_key).open(form.ticket, purpose)
        if ticket is None:
            return Redirect(request.app.route_reverse("accounts:recover", what=purpose), status_code=303)
        errors = {
            k: f"Enter your answer to question {n}"
            for n, (k, v) in enumerate(form.answers(len(ticket.k)), 1)
            if not v.strip()
        }
        errors |= invisible_errors(form, LABELS, skip=("ticket",))
        if errors:
            here = _questions_url(request, purpose, form.ticket)
            return returns.back(request, here, errors=errors) or _questions_page(
                request, purpose, ticket.k, form.ticket, errors
            )
        account = (
            await q.account_by_user_id_and_email(ticket.u, ticket.e)
            if purpose is LinkPurpose.PASSWORD
            else await q.account_for_email(ticket.e)
        )
        page = settings.base_url + request.app.route_reverse(LINK_PAGES[purpose])
        link_for = LinkSigner(settings.secret_key, purpose).link_for(page)
        answers = [v[:200] for _, v in form.answers(len(ticket.k))]
        await service.recover(purpose, account, ticket.k, answers, link_for, ip=client_ip(request))
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("accounts:recover-sent", what=purpose), status_code=303)
        return _sent_page(request, purpose)

    @get("/recover/{what:str}/sent", name="accounts:recover-sent")
    async def recover_sent(self, request: AnyRequest, what: FromPath[str]) -> Template:
        """Check your email (the same words whether or not an email went)."""
        return _sent_page(request, _purpose(what))

    @get("/recover/reset", name="accounts:reset")
    async def reset(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        returns: NamedDependency[Returns],
        token: FromQuery[str] = "",
    ) -> Template:
        usable = await _link_usable(settings, token, LinkPurpose.PASSWORD)
        errors = returns.take(request).errors if usable else {}  # a refused new password: its messages only
        context = {"token": token, "usable": usable, "errors": errors, "min_length": MIN_LENGTH}
        return render(request, "accounts/reset.html", context)

    @post("/recover/reset", name="accounts:reset-submit", status_code=200, opt={"throttle": True})
    async def reset_submit(
        self, request: AnyRequest, settings: NamedDependency[Settings], returns: NamedDependency[Returns]
    ) -> AnyResponse:
        form = await parse_form(request, ResetForm)
        here = request.app.route_reverse("accounts:reset") + "?" + urlencode({"token": form.token[:1000]})
        try:
            errors = await service.reset_password(
                _link_hash(settings, form.token, LinkPurpose.PASSWORD),
                form.new_password,
                form.confirm_password,
                secret_key=settings.secret_key,
                ip=client_ip(request),
            )
        except LinkSpent:
            if wants_fragment(request):
                raise
            return Redirect(here, status_code=303)  # the link's page says it is spent
        if not errors:
            return Redirect(request.app.route_reverse("accounts:login") + "?reset=1", status_code=303)
        back = returns.back(request, here, errors=errors)
        context = {"token": form.token, "usable": True, "errors": errors, "min_length": MIN_LENGTH}
        return back or render(request, "accounts/reset.html", context)

    @get("/recover/user-id/show", name="accounts:user-id-link")
    async def user_id_link(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        returns: NamedDependency[Returns],
        token: FromQuery[str] = "",
    ) -> Template:
        """The emailed link: a button, so that a mail scanner opening the link spends nothing.
        Once used, the User ID is shown here once (carried from the button's POST)."""
        shown = str(returns.take(request).form.get("user_id", ""))
        if shown:
            return render(request, "accounts/user_id_link.html", {"token": "", "usable": True, "user_id": shown})
        usable = await _link_usable(settings, token, LinkPurpose.USER_ID)
        return render(request, "accounts/user_id_link.html", {"token": token, "usable": usable, "user_id": None})

    @post("/recover/user-id/show", name="accounts:user-id-reveal", status_code=200, opt={"throttle": True})
    async def user_id_reveal(
        self, request: AnyRequest, settings: NamedDependency[Settings], returns: NamedDependency[Returns]
    ) -> AnyResponse:
        form = await parse_form(request, LinkForm)
        link_hash = _link_hash(settings, form.token, LinkPurpose.USER_ID)
        here = request.app.route_reverse("accounts:user-id-link")
        try:
            user_id = await service.reveal_user_id(link_hash, ip=client_ip(request))
        except LinkSpent:
            if wants_fragment(request):
                raise
            return Redirect(here, status_code=303)  # no token: the page says the link is spent
        back = returns.back(request, here, form={"user_id": user_id})
        return back or render(request, "accounts/user_id_link.html", {"token": "", "usable": True, "user_id": user_id})


def _change_page(request: AnyRequest, session: SignedIn, errors: dict[str, str]) -> Template:
    context = {"account": session, "errors": errors, "min_length": MIN_LENGTH}
    return render(request, "accounts/change_password.html", context)


def _identify_page(request: AnyRequest, what: LinkPurpose, errors: dict[str, str], form: IdentifyForm) -> Template:
    context = {"what": what, "title": RECOVERY_TITLES[what], "errors": errors, "form": form}
    return render(request, "accounts/recover_identify.html", context)


def _questions_page(
    request: AnyRequest, what: LinkPurpose, keys: list[str], ticket: str, errors: dict[str, str]
) -> Template:
    """The questions to answer: the account's own, or (no account) the same stand-ins every
    time for the same email address."""
    context = {
        "what": what,
        "title": RECOVERY_TITLES[what],
        "questions": [QUESTIONS[k] for k in keys],
        "ticket": ticket,
        "errors": errors,
    }
    return render(request, "accounts/recover_questions.html", context)


def _questions_url(request: AnyRequest, what: LinkPurpose, ticket: str) -> str:
    query = urlencode({"ticket": ticket[:1500]})
    return request.app.route_reverse("accounts:recover-questions", what=what) + "?" + query


def _sent_page(request: AnyRequest, what: LinkPurpose) -> Template:
    return render(request, "accounts/recover_sent.html", {"what": what, "title": RECOVERY_TITLES[what]})


def _link_hash(settings: Settings, token: str, purpose: LinkPurpose) -> str:
    """The stored hash of a recovery link's id ("" when the token is not a recent link of ours:
    no stored link has that hash, so it is spent)."""
    return LinkSigner(settings.secret_key, purpose).link_hash(token) or ""


async def _link_usable(settings: Settings, token: str, purpose: LinkPurpose) -> bool:
    link_hash = _link_hash(settings, token, purpose)
    return bool(link_hash) and await q.reset_is_usable(link_hash, purpose)


class RequestAnotherController(Controller):
    """Request another application, for a signed-in account holder: any role they do not hold,
    in any application. Without JavaScript the submit answers 303: to the confirmation page, or
    back to the form with what was typed and the messages."""

    path = "/my/request"
    include_in_schema = False
    guards = [session_guard]
    opt = SIGNED_IN

    @get("/", name="accounts:request-start")
    async def start(self, request: AnyRequest, session: NamedDependency[SignedIn]) -> Template:
        context = {"account": session, "choices": await another.choices(session)}
        return render(request, "accounts/request_start.html", context)

    @get("/{code:str}", name="accounts:request-form")
    async def form(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        returns: NamedDependency[Returns],
        code: FromPath[str],
        role: FromQuery[str] = "",
    ) -> AnyResponse:
        app = await _application(code)
        returned = returns.take(request)  # a refused request, or the role chosen without JavaScript
        form = returns.form_as(returned, RequestForm)
        view = await another.request_view(session, app, form, returned.errors, role=role[:40])
        if view.pending:  # nothing more for this application until its waiting request is decided
            return Redirect(_sent_url(request, app, view.pending, already=True), status_code=303)
        return self._render(request, session, app, view)

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
        returns: NamedDependency[Returns],
        code: FromPath[str],
    ) -> AnyResponse:
        app = await _application(code)
        form = await parse_form(request, RequestForm, rest_as_fields=True)
        here = request.app.route_reverse("accounts:request-form", code=app.code)
        if form.action == "role":  # without JavaScript: the chosen role's fields, the rest kept
            back = returns.back(request, here + "?" + urlencode({"role": form.role[:40]}), form=form)
            return back or self._render(request, session, app, await another.request_view(session, app, form, {}))
        result = await another.submit(session, app, form, cipher=cipher, links=links, ip=client_ip(request))
        if isinstance(result, Filed | Pending):
            return redirect(
                request, _sent_url(request, app, result.tracking_number, already=isinstance(result, Pending))
            )
        back = returns.back(request, here, form=form, errors=result.errors)
        return back or self._render(
            request, session, app, await another.request_view(session, app, form, result.errors)
        )

    @get("/{code:str}/sent/{tracking:str}", name="accounts:request-sent")
    async def sent(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        code: FromPath[str],
        tracking: FromPath[str],
        already: FromQuery[str] = "",
    ) -> Template:
        """The confirmation: the request's tracking number (only a request of the holder's own
        email address), or the one already waiting."""
        app = await _application(code)
        view = await another.sent(session, tracking)
        if view is None:
            raise NotFoundException()
        context = {"account": session, "app": app, "request_status": view, "pending": bool(already)}
        return render(request, "accounts/request_done.html", context)

    def _render(self, request: AnyRequest, session: SignedIn, app: Application, view: another.RequestView) -> Template:
        context = {
            "account": session,
            "app": app,
            "form": view.form,
            "errors": view.errors,
            "states": STATES,
            "role_options": view.role_options,
            "rules": view.rules,
            "asks_ssn": view.asks_ssn,
            "saved_fields": {},
            "fields_url": request.app.route_reverse("accounts:request-fields", code=app.code),
        }
        return render(request, "accounts/request_form.html", context)


def _sent_url(request: AnyRequest, app: Application, tracking: str, *, already: bool) -> str:
    url = request.app.route_reverse("accounts:request-sent", code=app.code, tracking=tracking)
    return url + ("?already=1" if already else "")


async def _application(code: str) -> Application:
    app = await reg_q.application_by_code(code)
    if app is None:
        raise NotFoundException()
    return app
