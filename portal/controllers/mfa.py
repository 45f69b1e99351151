"""Two-factor sign-in (portal.accounts.mfa): the second step of logging in, setting up an
authenticator app or a passkey, recovery codes, removing a factor, and confirming it is you
before a decision (step-up).

The second step answers in one request with htmx (a refused code swaps the form; a passed one
redirects) and with POST/303/GET without. Setting up is a plain form (POST/303/GET): the new
recovery codes travel to the page that shows them once in the encrypted returned-form cookie."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from portal.accounts import mfa, service
from portal.accounts.mfa import Enrolled, Halfway, Passed, RelyingParty
from portal.auth import Continuation, SessionCookies, client_ip, session_guard
from portal.crypto import FieldCipher
from portal.models import mfa as q
from portal.models.rows import Factor, FactorKind, SignedIn
from portal.returns import Returns
from portal.settings import Settings
from portal.web import AnyRequest, parse_form, redirect, render

AnyResponse = Template | Redirect | Response[Any]
# Reachable signed in with a password alone by someone who must set up a second factor.
SETUP = {"signed_in": True, "mfa_setup": True}


class SecondStepForm(msgspec.Struct):
    code: str = ""
    credential: str = ""  # a passkey's answer, as JSON (passkey.js)
    token: str = ""  # step-up: the passkey challenge's
    next: str = ""  # step-up: where to go back to


class AppForm(msgspec.Struct):
    secret: str = ""  # the secret being set up, encrypted
    name: str = ""
    code: str = ""


class PasskeyForm(msgspec.Struct):
    token: str = ""
    name: str = ""
    credential: str = ""


def _rp(settings: Settings) -> RelyingParty:
    return mfa.relying_party(settings.base_url)


def _local(url: str, fallback: str) -> str:
    """Only a path of this site is a place to go back to."""
    ok = url.startswith("/") and not url.startswith("//") and "\\" not in url and len(url) <= 2000
    return url if ok and url.isprintable() else fallback


class MfaController(Controller):
    include_in_schema = False
    guards = [session_guard]

    # ---- The second step of logging in ---------------------------------------------------------

    @get("/login/confirm", name="mfa:second-step")
    async def second_step(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionCookies],
        returns: NamedDependency[Returns],
    ) -> AnyResponse:
        step = await mfa.halfway(sessions.halfway_token(request))
        if step is None:  # none, or over ten minutes old: log in again
            return Redirect(request.app.route_reverse("accounts:login") + "?again=1", status_code=303)
        return _second_step_page(request, settings, step, returns.take(request).errors)

    @post("/login/confirm", name="mfa:second-step-submit", status_code=200, opt={"throttle": True})
    async def second_step_submit(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        sessions: NamedDependency[SessionCookies],
        cipher: NamedDependency[FieldCipher],
        returns: NamedDependency[Returns],
        continuation: NamedDependency[Continuation],
    ) -> AnyResponse:
        form = await parse_form(request, SecondStepForm)
        step = await mfa.halfway(sessions.halfway_token(request))
        login = request.app.route_reverse("accounts:login") + "?again=1"
        if step is None:
            return redirect(request, login)
        result = await mfa.check(
            step.account,
            step.factors,
            code=form.code[:100],
            credential=form.credential,
            challenge=step.challenge,
            rp=_rp(settings),
            cipher=cipher,
            secret_key=settings.secret_key,
            ip=client_ip(request),
        )
        if not isinstance(result, Passed):
            errors = {"code": str(result)}
            back = returns.back(request, request.app.route_reverse("mfa:second-step"), errors=errors)
            return back or _second_step_page(request, settings, step, errors)
        token = await mfa.finish_sign_in(step, result, mode=settings.mfa_required, ip=client_ip(request))
        if token is None:  # another request finished this sign-in first
            return redirect(request, login)
        if step.account.password_initial:
            target = request.app.route_reverse("accounts:change-password")
        else:  # an application waiting for this sign-in, or the landing page
            landing = request.app.route_reverse(await service.landing(step.account.id))
            target = continuation.next_url(request) or landing
        response = redirect(request, target)
        response.set_cookie(sessions.issue(token))
        response.set_cookie(sessions.clear_halfway())
        return response

    # ---- Two-factor sign-in settings -----------------------------------------------------------

    @get("/my/two-factor", name="mfa:manage", opt=SETUP)
    async def manage(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        returns: NamedDependency[Returns],
        done: FromQuery[str] = "",
    ) -> Template:
        returned = returns.take(request)
        factors = await q.factors_of(session.account_id)
        context = {
            "account": session,
            "factors": [_shown(f) for f in factors],
            "codes_left": await q.recovery_codes_left(session.account_id) if factors else 0,
            "must": session.mfa_required and not session.second_factor,
            "errors": returned.errors,
            "done": {"added": "Your second factor is set up.", "removed": "It has been removed."}.get(done, ""),
        }
        return render(request, "mfa/manage.html", context)

    @get("/my/two-factor/app", name="mfa:app", opt=SETUP)
    async def app(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        cipher: NamedDependency[FieldCipher],
        returns: NamedDependency[Returns],
    ) -> Template:
        returned = returns.take(request)  # a refused code: the same secret again, and the name typed
        form = returns.form_as(returned, AppForm) or AppForm()
        secret = mfa.open_setup_secret(cipher, form.secret) if form.secret else None
        if secret is None:
            secret = mfa.new_totp_secret()
        return self._app_page(request, session, cipher, secret, form.name, returned.errors)

    def _app_page(
        self,
        request: AnyRequest,
        session: SignedIn,
        cipher: FieldCipher,
        secret: str,
        name: str,
        errors: dict[str, str],
    ) -> Template:
        context = {
            "account": session,
            "qr": mfa.qr_svg(mfa.totp_uri(secret, session.user_id)),
            "secret_text": mfa.grouped(secret),
            "sealed": mfa.seal_setup_secret(cipher, secret),
            "name": name,
            "errors": errors,
        }
        return render(request, "mfa/app.html", context)

    @post("/my/two-factor/app", name="mfa:app-submit", status_code=200, opt={**SETUP, "throttle": True})
    async def app_submit(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        cipher: NamedDependency[FieldCipher],
        returns: NamedDependency[Returns],
    ) -> AnyResponse:
        form = await parse_form(request, AppForm)
        result = await mfa.enrol_totp(
            session, form.secret[:500], form.code[:100], form.name, cipher=cipher, ip=client_ip(request)
        )
        if isinstance(result, Enrolled):
            return self._enrolled(request, returns, result)
        typed = AppForm(secret=form.secret[:500], name=form.name[: mfa.NAME_MAX])
        back = returns.back(request, request.app.route_reverse("mfa:app"), form=typed, errors=result)
        if back is not None:
            return back
        secret = mfa.open_setup_secret(cipher, form.secret[:500]) or mfa.new_totp_secret()
        return self._app_page(request, session, cipher, secret, typed.name, result)

    @get("/my/two-factor/passkey", name="mfa:passkey", opt=SETUP)
    async def passkey(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        settings: NamedDependency[Settings],
        returns: NamedDependency[Returns],
    ) -> Template:
        returned = returns.take(request)
        form = returns.form_as(returned, PasskeyForm) or PasskeyForm()
        token, options = await mfa.begin_passkey(session, _rp(settings))
        context = {"account": session, "token": token, "options": options, "name": form.name, "errors": returned.errors}
        return render(request, "mfa/passkey.html", context)

    @post("/my/two-factor/passkey", name="mfa:passkey-submit", status_code=200, opt=SETUP)
    async def passkey_submit(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        settings: NamedDependency[Settings],
        returns: NamedDependency[Returns],
    ) -> AnyResponse:
        form = await parse_form(request, PasskeyForm)
        if len(form.credential) > 20_000:
            result: Enrolled | dict[str, str] = {"passkey": "Your passkey could not be set up. Try again"}
        else:
            result = await mfa.enrol_passkey(
                session, form.token, form.credential, form.name, rp=_rp(settings), ip=client_ip(request)
            )
        if isinstance(result, Enrolled):
            return self._enrolled(request, returns, result)
        typed = PasskeyForm(name=form.name[: mfa.NAME_MAX])
        back = returns.back(request, request.app.route_reverse("mfa:passkey"), form=typed, errors=result)
        if back is not None:
            return back
        token, options = await mfa.begin_passkey(session, _rp(settings))
        context = {"account": session, "token": token, "options": options, "name": typed.name, "errors": result}
        return render(request, "mfa/passkey.html", context)

    def _enrolled(self, request: AnyRequest, returns: Returns, result: Enrolled) -> AnyResponse:
        """Set up: the recovery codes, once, when this was the first factor; else the settings."""
        if not result.codes:
            return redirect(request, request.app.route_reverse("mfa:manage") + "?done=added")
        url = request.app.route_reverse("mfa:codes")
        back = returns.back(request, url, form={"codes": " ".join(result.codes)})
        return back or redirect(request, request.app.route_reverse("mfa:manage") + "?done=added")

    @get("/my/two-factor/codes", name="mfa:codes", opt=SETUP)
    async def codes(
        self, request: AnyRequest, session: NamedDependency[SignedIn], returns: NamedDependency[Returns]
    ) -> AnyResponse:
        """The new recovery codes, shown once (a refresh shows that they were shown)."""
        codes = str(returns.take(request).form.get("codes", "")).split()
        context = {
            "account": session,
            "codes": codes,
            "next": request.app.route_reverse(await service.landing(session.account_id)),
        }
        return render(request, "mfa/codes.html", context)

    @post("/my/two-factor/codes", name="mfa:codes-new", status_code=200, opt=SETUP)
    async def codes_new(
        self, request: AnyRequest, session: NamedDependency[SignedIn], returns: NamedDependency[Returns]
    ) -> AnyResponse:
        if not session.second_factor or not await q.has_factor(session.account_id):
            return redirect(request, request.app.route_reverse("mfa:manage"))
        codes = await mfa.new_codes(session, ip=client_ip(request))
        url = request.app.route_reverse("mfa:codes")
        back = returns.back(request, url, form={"codes": " ".join(codes)})
        return back or redirect(request, url)

    @post("/my/two-factor/{factor_id:int}/remove", name="mfa:remove", status_code=200, opt=SETUP)
    async def remove(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        settings: NamedDependency[Settings],
        returns: NamedDependency[Returns],
        factor_id: FromPath[int],
    ) -> AnyResponse:
        refused = await mfa.remove(session, factor_id, mode=settings.mfa_required, ip=client_ip(request))
        here = request.app.route_reverse("mfa:manage")
        if refused:
            return returns.back(request, here, errors={"factors": refused}) or redirect(request, here)
        return redirect(request, here + "?done=removed")

    # ---- Confirm it is you (step-up before a decision) -------------------------------------------

    @get("/my/two-factor/confirm", name="mfa:step-up", opt=SETUP)
    async def step_up(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        settings: NamedDependency[Settings],
        returns: NamedDependency[Returns],
        next: FromQuery[str] = "",
    ) -> AnyResponse:
        factors = await q.factors_of(session.account_id)
        if not factors:
            return Redirect(request.app.route_reverse("mfa:manage"), status_code=303)
        back_to = _local(next, request.app.route_reverse("approvals:table"))
        return await _step_up_page(request, session, settings, factors, back_to, returns.take(request).errors)

    @post("/my/two-factor/confirm", name="mfa:step-up-submit", status_code=200, opt={**SETUP, "throttle": True})
    async def step_up_submit(
        self,
        request: AnyRequest,
        session: NamedDependency[SignedIn],
        settings: NamedDependency[Settings],
        cipher: NamedDependency[FieldCipher],
        returns: NamedDependency[Returns],
    ) -> AnyResponse:
        form = await parse_form(request, SecondStepForm)
        back_to = _local(form.next, request.app.route_reverse("approvals:table"))
        factors = await q.factors_of(session.account_id)
        account = await service.account_of(session)
        if account is None or not factors:
            return redirect(request, request.app.route_reverse("mfa:manage"))
        challenge = await mfa.step_up_passkey_challenge(form.token, session) if form.credential else None
        result = await mfa.check(
            account,
            factors,
            code=form.code[:100],
            credential=form.credential,
            challenge=challenge,
            rp=_rp(settings),
            cipher=cipher,
            secret_key=settings.secret_key,
            ip=client_ip(request),
        )
        if isinstance(result, Passed) and form.credential and not await mfa.spend_step_up(form.token):
            result = mfa.Refused("This confirmation has expired. Try again")
        if not isinstance(result, Passed):
            errors = {"code": str(result)}
            here = request.app.route_reverse("mfa:step-up") + "?" + urlencode({"next": back_to})
            back = returns.back(request, here, errors=errors)
            return back or await _step_up_page(request, session, settings, factors, back_to, errors)
        await mfa.stepped_up(session, result, ip=client_ip(request))
        return redirect(request, back_to)


def _confirm_page(
    request: AnyRequest,
    settings: Settings,
    factors: list[Factor],
    errors: dict[str, str],
    *,
    challenge: str = "",
    token: str = "",
    back_to: str = "",
) -> Template:
    """The second step's form: a code field, and the passkey button (with options answering
    ``challenge``) when the account has a passkey. For step-up, ``back_to`` is where to return
    and ``token`` names the passkey challenge."""
    passkey = bool(challenge) and mfa.has_kind(factors, FactorKind.WEBAUTHN)
    step_up = bool(back_to)
    context = {
        "errors": errors,
        "action": request.app.route_reverse("mfa:step-up-submit" if step_up else "mfa:second-step-submit"),
        "has_app": mfa.has_kind(factors, FactorKind.TOTP),
        "options": mfa.passkey_options(_rp(settings), challenge, factors) if passkey else "",
        "token": token,
        "next": back_to,
        "step_up": step_up,
    }
    return render(request, "mfa/second_step.html", context, fragment="mfa/_second_step.html")


def _second_step_page(request: AnyRequest, settings: Settings, step: Halfway, errors: dict[str, str]) -> Template:
    return _confirm_page(request, settings, step.factors, errors, challenge=step.challenge.challenge)


async def _step_up_page(
    request: AnyRequest,
    session: SignedIn,
    settings: Settings,
    factors: list[Factor],
    back_to: str,
    errors: dict[str, str],
) -> Template:
    """A fresh passkey challenge each time the page is shown (when there is a passkey)."""
    fresh = await mfa.step_up_challenge(session) if mfa.has_kind(factors, FactorKind.WEBAUTHN) else None
    return _confirm_page(
        request,
        settings,
        factors,
        errors,
        challenge=fresh.challenge if fresh else "",
        token=fresh.token if fresh else "",
        back_to=back_to,
    )


def _shown(factor: Factor) -> dict[str, Any]:
    """A factor as the settings page lists it (never its secret)."""
    kind = "Authenticator app" if factor.kind is FactorKind.TOTP else "Passkey or security key"
    return {
        "id": factor.id,
        "name": factor.name,
        "kind": kind,
        "created_at": factor.created_at,
        "last_used_at": factor.last_used_at,
    }
