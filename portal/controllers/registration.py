"""Registration (spec Journey 2): choose an application, accept the terms, six steps.

Handlers parse, call one journey function, and pick a template or a redirect. With htmx a
valid step answers with the next step's fragment and pushes its URL (one round trip); without
JavaScript it answers 303 to the next step's page. A draft that is gone (``DraftGone``) and a
step out of reach (``NotYet``) are answered in portal/controllers/errors.py.

Without JavaScript no page is left at a POST address (post/redirect/get): a valid form answers
303 to the next page, a refused one 303 back to its own page with what was typed and the
messages (portal/returns.py), and a refresh never offers to send it again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Response, Template

from portal.auth import session_guard
from portal.controllers.role_fields import role_fields_fragment
from portal.crypto import FieldCipher
from portal.drafts import DraftCookies
from portal.errors import DraftGone, NotYet
from portal.links import Links
from portal.models import catalog as catalog_queries
from portal.models import registration as q
from portal.models.rows import Draft
from portal.registration import service
from portal.registration.forms import ContactForm, PersonalForm, QuestionsForm, VerifyForm
from portal.registration.service import Outcome, Pending, StepForm, StepView
from portal.registration.steps import (
    BY_SLUG,
    REVIEW_SECTIONS,
    SECTION_NAMES,
    Slug,
    after_save,
    first_unfinished,
    may_visit,
)
from portal.returns import Returns
from portal.settings import Settings
from portal.web import VARY, AnyRequest, parse_form, redirect, render, wants_fragment

AnyResponse = Template | Redirect | Response[Any]


@dataclass(frozen=True)
class Wizard:
    """What the step handlers share, made once for the app: the draft cookie, the field cipher,
    the settings, and the cookie that carries a refused plain form back to its page."""

    drafts: DraftCookies
    cipher: FieldCipher
    settings: Settings
    returns: Returns


async def _draft_or_none(request: AnyRequest, drafts: DraftCookies) -> tuple[str, Draft] | None:
    token = drafts.token(request)
    draft = await q.get_draft(token) if token else None
    return (token, draft) if token and draft else None


async def _draft_at(request: AnyRequest, drafts: DraftCookies, *slugs: Slug) -> tuple[str, Draft]:
    """The token and draft this browser names when it may be at one of ``slugs``. DraftGone
    when it names none; NotYet (to its first unfinished step) when it may not be there."""
    found = await _draft_or_none(request, drafts)
    if found is None:
        raise DraftGone()
    if not any(may_visit(found[1], slug) for slug in slugs):
        raise NotYet(first_unfinished(found[1]).route)
    return found


FORM_KINDS: dict[Slug, type[PersonalForm] | type[VerifyForm] | type[ContactForm] | type[QuestionsForm]] = {
    Slug.PERSONAL: PersonalForm,
    Slug.VERIFY: VerifyForm,
    Slug.CONTACT: ContactForm,
    Slug.QUESTIONS: QuestionsForm,
}


def _section(section: str) -> Slug:
    """A section of Review Details named in the URL, or 404."""
    for slug in REVIEW_SECTIONS:
        if section == slug:
            return slug
    raise NotFoundException()


class RegistrationController(Controller):
    path = "/register"
    include_in_schema = False
    guards = [session_guard]

    # ---- Choose an application, accept the terms -------------------------------------------

    @get("/", name="registration:start")
    async def start(
        self,
        request: AnyRequest,
        wizard: NamedDependency[Wizard],
        term: Annotated[str, QueryParameter(name="q")] = "",
        expired: FromQuery[str] = "",
    ) -> Template:
        term = term.strip()[:100]
        apps = await catalog_queries.active_applications(with_roles=False)  # on every pause in typing
        if term:
            needle = term.casefold()
            apps = [
                a
                for a in apps
                if needle in a.name.casefold() or needle in a.code.casefold() or needle in a.description.casefold()
            ]
        found = None if wants_fragment(request) else await _draft_or_none(request, wizard.drafts)
        draft = found[1] if found else None
        context = {
            "applications": apps,
            "q": term,
            "expired": bool(expired),
            "draft": draft,
            "resume_url": request.app.route_reverse(first_unfinished(draft).route) if draft else "",
        }
        here = request.app.route_reverse("registration:start") + (f"?{urlencode({'q': term})}" if term else "")
        return render(
            request, "registration/start.html", context, fragment="registration/_application_list.html", push_url=here
        )

    @get("/{code:str}/terms", name="registration:terms")
    async def terms(self, request: AnyRequest, code: FromPath[str]) -> Template:
        app = await q.application_by_code(code)
        if app is None:
            raise NotFoundException()
        return render(request, "registration/terms.html", {"app": app, "version": service.TERMS_VERSION})

    @post("/{code:str}/terms", name="registration:accept", status_code=200, opt={"throttle": True})
    async def accept(self, request: AnyRequest, wizard: NamedDependency[Wizard], code: FromPath[str]) -> AnyResponse:
        app = await q.application_by_code(code)
        if app is None:
            raise NotFoundException()
        token = await service.start(app.id)
        response = redirect(request, request.app.route_reverse("registration:personal"))
        response.set_cookie(wizard.drafts.issue(token))
        return response

    # ---- The steps ----------------------------------------------------------------------------

    @get("/personal", name="registration:personal")
    async def personal(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> Template:
        return await self._show(request, wizard, Slug.PERSONAL)

    @post("/personal", name="registration:personal-save", status_code=200)
    async def personal_save(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> AnyResponse:
        form = await parse_form(request, PersonalForm)
        return await self._save(request, wizard, Slug.PERSONAL, form)

    @get("/verify", name="registration:verify")
    async def verify(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> Template:
        return await self._show(request, wizard, Slug.VERIFY)

    @post("/verify", name="registration:verify-check", status_code=200, opt={"throttle": True})
    async def verify_check(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> AnyResponse:
        form = await parse_form(request, VerifyForm)
        return await self._save(request, wizard, Slug.VERIFY, form)

    @post("/verify/resend", name="registration:resend", status_code=200, opt={"throttle": True})
    async def resend(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> AnyResponse:
        token, _ = await _draft_at(request, wizard.drafts, Slug.VERIFY)
        outcome = await service.resend_code(token, settings=wizard.settings)
        back = self._back(request, wizard, Slug.VERIFY, outcome)
        return back or await self._after_write(request, wizard, token, Slug.VERIFY, outcome)

    @get("/contact", name="registration:contact")
    async def contact(
        self,
        request: AnyRequest,
        wizard: NamedDependency[Wizard],
        role: FromQuery[str] = "",
    ) -> Template:
        # ?role= (without JavaScript): the chosen role's fields, the saved details kept.
        return await self._show(request, wizard, Slug.CONTACT, role=role[:40])

    @get("/contact/fields", name="registration:contact-fields")
    async def contact_fields(
        self, request: AnyRequest, wizard: NamedDependency[Wizard], role: FromQuery[str] = ""
    ) -> AnyResponse:
        """The application-specific fields of one role (htmx swaps them in when the role changes)."""
        found = await _draft_or_none(request, wizard.drafts)
        if found is None:
            raise DraftGone()
        if not wants_fragment(request):
            url = request.app.route_reverse("registration:contact") + "?" + urlencode({"role": role[:40]})
            return Redirect(url, status_code=303)
        return await role_fields_fragment(found[1].application, role[:40])

    @post("/contact", name="registration:contact-save", status_code=200)
    async def contact_save(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> AnyResponse:
        token, draft = await _draft_at(request, wizard.drafts, Slug.CONTACT)
        form = await parse_form(request, ContactForm, rest_as_fields=True)
        if form.action == "role":  # without JavaScript: show the chosen role's fields, keep the rest
            url = request.app.route_reverse("registration:contact") + "?" + urlencode({"role": form.role[:40]})
            back = wizard.returns.back(request, url, form=form)
            return back or self._render(request, await service.step_view(draft, Slug.CONTACT, wizard.cipher, form=form))
        return await self._save(request, wizard, Slug.CONTACT, form)

    @get("/questions", name="registration:questions")
    async def questions(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> Template:
        return await self._show(request, wizard, Slug.QUESTIONS)

    @post("/questions", name="registration:questions-save", status_code=200)
    async def questions_save(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> AnyResponse:
        form = await parse_form(request, QuestionsForm)
        return await self._save(request, wizard, Slug.QUESTIONS, form)

    @get("/review", name="registration:review")
    async def review(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> Template:
        return await self._show(request, wizard, Slug.REVIEW)

    @get("/review/{section:str}/edit", name="registration:review-edit")
    async def review_edit(
        self,
        request: AnyRequest,
        wizard: NamedDependency[Wizard],
        section: FromPath[str],
    ) -> AnyResponse:
        """Change a section of Review Details: its form in place (htmx), or without JavaScript
        a page with only that section's form ("check answers"), where a refused save comes
        back with its messages."""
        slug = _section(section)
        _, draft = await _draft_at(request, wizard.drafts, Slug.REVIEW)
        if wants_fragment(request):
            return self._section(request, await service.step_view(draft, slug, wizard.cipher), slug, editing=True)
        returned = wizard.returns.take(request)
        form = wizard.returns.form_as(returned, FORM_KINDS[slug])
        view = await service.step_view(draft, slug, wizard.cipher, form=form, errors=returned.errors)
        return self._change_page(request, view)

    @get("/review/{section:str}", name="registration:review-section")
    async def review_section(
        self,
        request: AnyRequest,
        wizard: NamedDependency[Wizard],
        section: FromPath[str],
    ) -> AnyResponse:
        """The read-only section (Cancel from the inline form)."""
        slug = _section(section)
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("registration:review"), status_code=303)
        _, draft = await _draft_at(request, wizard.drafts, Slug.REVIEW)  # a draft not at review has no sections
        return self._section(request, await service.step_view(draft, Slug.REVIEW, wizard.cipher), slug, editing=False)

    @post("/review/{section:str}", name="registration:review-save", status_code=200)
    async def review_save(
        self,
        request: AnyRequest,
        wizard: NamedDependency[Wizard],
        section: FromPath[str],
    ) -> AnyResponse:
        """Save a changed section. With htmx: valid turns the section back to read-only, invalid
        keeps the form with its messages. Without JavaScript: valid answers 303 to Review
        Details, invalid (or the role's fields asked for) 303 back to the section's page. The
        email address is never part of it."""
        slug = _section(section)
        token, draft = await _draft_at(request, wizard.drafts, Slug.REVIEW)
        form = await self._form(request, slug)
        plain = not wants_fragment(request)
        here = request.app.route_reverse("registration:review-edit", section=slug)
        if isinstance(form, ContactForm) and form.action == "role":  # without JavaScript: the role's fields
            back = wizard.returns.back(request, here, form=form)
            if back is not None:
                return back
            view = await service.step_view(draft, slug, wizard.cipher, form=form)
            return self._change_page(request, view) if plain else self._section(request, view, slug, editing=True)
        outcome = await service.save_step(slug, token, form, settings=wizard.settings, cipher=wizard.cipher)
        if plain:
            if outcome.ok:  # the review shows the change
                return Redirect(request.app.route_reverse("registration:review"), status_code=303)
            carried = service.without_secrets(form)
            back = wizard.returns.back(request, here, form=carried, errors=outcome.errors)
            return back or self._change_page(
                request,
                await service.step_view(
                    await self._reread(token), slug, wizard.cipher, form=carried, errors=outcome.errors
                ),
            )
        draft = await self._reread(token)
        if outcome.ok:
            return self._section(
                request, await service.step_view(draft, Slug.REVIEW, wizard.cipher), slug, editing=False
            )
        view = await service.step_view(draft, slug, wizard.cipher, form=form, errors=outcome.errors)
        return self._section(request, view, slug, editing=True)

    @post("/submit", name="registration:submit", status_code=200)
    async def submit(
        self,
        request: AnyRequest,
        wizard: NamedDependency[Wizard],
        links: NamedDependency[Links],
    ) -> AnyResponse:
        token, _ = await _draft_at(request, wizard.drafts, Slug.REVIEW, Slug.DONE)  # DONE: a replayed submit
        result = await service.submit(token, settings=wizard.settings, cipher=wizard.cipher, links=links)
        if isinstance(result, Pending):  # its own page (HX-Redirect with htmx, 303 without)
            return redirect(request, request.app.route_reverse("registration:pending"))
        if isinstance(result, Outcome):
            back = self._back(request, wizard, Slug.REVIEW, result)
            return back or await self._after_write(request, wizard, token, Slug.REVIEW, result)
        if not wants_fragment(request):  # the acknowledgement at its own address
            return Redirect(request.app.route_reverse("registration:done"), status_code=303)
        return await self._after_write(request, wizard, token, Slug.DONE, Outcome(), push=True)

    @get("/pending", name="registration:pending")
    async def pending(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> Template:
        """A submit refused because a request for the same email address and application is
        still pending: its tracking number, and where to check it."""
        _, draft = await _draft_at(request, wizard.drafts, Slug.REVIEW)
        tracking = await service.pending_request(draft)
        if tracking is None:  # decided since: the draft may be submitted again
            raise NotYet("registration:review")
        return render(request, "registration/already_pending.html", {"tracking_number": tracking, "draft": draft})

    @get("/done", name="registration:done")
    async def done(
        self,
        request: AnyRequest,
        wizard: NamedDependency[Wizard],
        print_view: Annotated[str, QueryParameter(name="print")] = "",
    ) -> Template:
        """The acknowledgement; ``?print=1`` is its print-friendly layout (no header, footer or
        buttons), which a plain link reaches with JavaScript on or off."""
        return await self._show(request, wizard, Slug.DONE, print_view=print_view == "1")

    @post("/done", name="registration:finish", status_code=200)
    async def finish(self, request: AnyRequest, wizard: NamedDependency[Wizard]) -> AnyResponse:
        """OK: the draft ends (its data now lives only in the request) and the cookie goes."""
        found = await _draft_or_none(request, wizard.drafts)
        if found is not None:
            token, draft = found
            if not draft.tracking_number:  # not submitted yet: OK must not throw the draft away
                return redirect(request, request.app.route_reverse(first_unfinished(draft).route))
            await q.delete_draft(token)
        response = redirect(request, request.app.route_reverse("home:getting-ready"))
        response.set_cookie(wizard.drafts.clear())
        return response

    # ---- Shared machinery ---------------------------------------------------------------------

    async def _form(self, request: AnyRequest, slug: Slug) -> StepForm:
        kind = FORM_KINDS[slug]
        form: StepForm = await parse_form(request, kind, rest_as_fields=kind is ContactForm)
        return form

    async def _save(
        self,
        request: AnyRequest,
        wizard: Wizard,
        slug: Slug,
        form: StepForm,
    ) -> AnyResponse:
        token, _ = await _draft_at(request, wizard.drafts, slug)
        outcome = await service.save_step(slug, token, form, settings=wizard.settings, cipher=wizard.cipher)
        if not outcome.ok:  # the page again, with ?from=review kept
            back = self._back(request, wizard, slug, outcome, form=service.without_secrets(form))
            return back or await self._after_write(request, wizard, token, slug, outcome, form=form)
        draft = await self._reread(token)
        nxt = after_save(draft, from_review=request.query_params.get("from") == "review")
        response: AnyResponse
        if wants_fragment(request):
            view = await service.step_view(draft, nxt.slug, wizard.cipher)
            view.notice = outcome.notice
            response = self._render(request, view, push=True)
        else:
            response = Redirect(request.app.route_reverse(nxt.route), status_code=303)
        response.set_cookie(wizard.drafts.issue(token))  # idle clock starts again
        return response

    async def _show(
        self,
        request: AnyRequest,
        wizard: Wizard,
        slug: Slug,
        *,
        role: str = "",
        print_view: bool = False,
    ) -> Template:
        _, draft = await _draft_at(request, wizard.drafts, slug)
        returned = wizard.returns.take(request)  # a refused plain form, back at its page
        form = wizard.returns.form_as(returned, FORM_KINDS[slug]) if slug in FORM_KINDS else None
        view = await service.step_view(draft, slug, wizard.cipher, form=form, errors=returned.errors, role=role)
        view.notice = returned.notice
        return self._render(request, view, print_view=print_view)

    def _back(
        self, request: AnyRequest, wizard: Wizard, slug: Slug, outcome: Outcome, *, form: StepForm | None = None
    ) -> Redirect | None:
        """Without JavaScript, a step that was refused (or a resend) answers 303 to its own page
        with the form, messages and notice (post/redirect/get: a refresh never resends).
        None for htmx, which swaps the step in place, or for a form too big for the cookie."""
        url = request.app.route_reverse(BY_SLUG[slug].route)
        if request.query_params.get("from") == "review":
            url += "?from=review"
        return wizard.returns.back(request, url, form=form, errors=outcome.errors, notice=outcome.notice)

    async def _reread(self, token: str) -> Draft:
        draft = await q.get_draft(token)
        if draft is None:
            raise DraftGone()
        return draft

    async def _after_write(
        self,
        request: AnyRequest,
        wizard: Wizard,
        token: str,
        slug: Slug,
        outcome: Outcome,
        *,
        form: StepForm | None = None,
        push: bool = False,
    ) -> Template:
        """Step ``slug`` again once this request has written to the draft (read afresh; the
        cookie was checked when the request began)."""
        draft = await self._reread(token)
        view = await service.step_view(draft, slug, wizard.cipher, form=form, errors=outcome.errors)
        view.notice = outcome.notice
        return self._render(request, view, push=push)

    def _render(self, request: AnyRequest, view: StepView, *, push: bool = False, print_view: bool = False) -> Template:
        if request.query_params.get("from") == "review":
            view.from_review = True
        url = request.app.route_reverse(view.step.route)
        return render(
            request,
            "registration/step.html",
            _context(request, view) | {"print_view": print_view},
            fragment="registration/_step.html",
            push_url=url if push else None,
        )

    def _section(self, request: AnyRequest, view: StepView, section: Slug, *, editing: bool) -> Template:
        context = _context(request, view) | {"section": section, "editing": editing, "swapped": True}
        return Template(template_name="registration/_review_section.html", context=context, headers=VARY)

    def _change_page(self, request: AnyRequest, view: StepView) -> Template:
        """Without JavaScript: a page with only one section's form, Save and return to review
        and Cancel (GOV.UK "check answers"); no wizard chrome."""
        return render(request, "registration/change.html", _context(request, view) | {"section": view.step.slug})


def _context(request: AnyRequest, view: StepView) -> dict[str, Any]:
    """What a step's templates read: the view, and where the role select fetches its fields."""
    return msgspec.structs.asdict(view) | {
        "fields_url": request.app.route_reverse("registration:contact-fields"),
        "section_names": SECTION_NAMES,
    }
