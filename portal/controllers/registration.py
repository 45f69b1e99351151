"""Registration (spec Journey 2): choose an application, accept the terms, six steps.

Handlers parse, call one journey function, and pick a template or a redirect. With htmx a
valid step answers with the next step's fragment and pushes its URL (one round trip); without
JavaScript it answers 303 to the next step's page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from portal.models import catalog as catalog_queries
from portal.models import registration as q
from portal.registration import service
from portal.registration.forms import (
    STATES,
    ContactForm,
    PersonalForm,
    QuestionsForm,
    VerifyForm,
)
from portal.registration.questions import MIN_QUESTIONS, QUESTIONS, SLOTS
from portal.registration.steps import BY_SLUG, STEPS, Step, first_unfinished, may_visit
from portal.registration.verification import CODE_LIFETIME
from portal.web import VARY, parse_form, redirect, render, wants_fragment

STEP_FORMS = {"personal": PersonalForm, "verify": VerifyForm, "contact": ContactForm, "questions": QuestionsForm}
REVIEW_SECTIONS = ("personal", "contact", "questions")


async def _draft_or_none(request: Request) -> dict[str, Any] | None:
    token = request.app.state.drafts.token(request)
    return await q.get_draft(token) if token else None


def _expired(request: HTMXRequest) -> Redirect:
    return redirect(request, request.app.route_reverse("registration:start") + "?expired=1")


async def _draft_at(request: HTMXRequest, *slugs: str) -> tuple[str, dict[str, Any]] | Response:
    """The token and draft this browser names when it may be at one of ``slugs``; otherwise the
    redirect it needs: to the start when the draft is gone, or to its first unfinished step."""
    token = request.app.state.drafts.token(request)
    draft = await q.get_draft(token) if token else None
    if draft is None:
        return _expired(request)
    if not any(may_visit(draft, slug) for slug in slugs):
        return redirect(request, request.app.route_reverse(first_unfinished(draft).route))
    return token, draft


async def role_fields_fragment(application_id: int, role: str) -> Template:
    """Exactly the application-specific fields of one role (swapped in when the role changes)."""
    _, rules = await q.role_rules(application_id)
    return Template(
        template_name="registration/_role_fields.html",
        context={"rules": rules.get(role, []), "form": ContactForm(role=role), "errors": {}},
        headers=VARY,
    )


class RegistrationController(Controller):
    path = "/register"
    include_in_schema = False

    # ---- Choose an application, accept the terms -------------------------------------------

    @get("/", name="registration:start")
    async def start(
        self, request: HTMXRequest, term: Annotated[str, QueryParameter(name="q")] = "", expired: FromQuery[str] = ""
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
        draft = None if wants_fragment(request) else await _draft_or_none(request)
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
    async def terms(self, request: HTMXRequest, code: FromPath[str]) -> Template:
        app = await q.application_by_code(code)
        if app is None:
            raise NotFoundException()
        return render(request, "registration/terms.html", {"app": app, "version": service.TERMS_VERSION})

    @post("/{code:str}/terms", name="registration:accept", status_code=200)
    async def accept(self, request: HTMXRequest, code: FromPath[str]) -> Redirect:
        app = await q.application_by_code(code)
        if app is None:
            raise NotFoundException()
        token = await q.create_draft(app["id"], service.TERMS_VERSION)
        response = redirect(request, request.app.route_reverse("registration:personal"))
        response.set_cookie(request.app.state.drafts.issue(token))
        return response

    # ---- The steps ----------------------------------------------------------------------------

    @get("/personal", name="registration:personal")
    async def personal(self, request: HTMXRequest) -> Template | Redirect:
        return await self._show(request, "personal")

    @post("/personal", name="registration:personal-save", status_code=200)
    async def personal_save(self, request: HTMXRequest) -> Template | Redirect:
        return await self._save(request, "personal", await parse_form(request, PersonalForm))

    @get("/verify", name="registration:verify")
    async def verify(self, request: HTMXRequest) -> Template | Redirect:
        return await self._show(request, "verify")

    @post("/verify", name="registration:verify-check", status_code=200)
    async def verify_check(self, request: HTMXRequest) -> Template | Redirect:
        return await self._save(request, "verify", await parse_form(request, VerifyForm))

    @post("/verify/resend", name="registration:resend", status_code=200)
    async def resend(self, request: HTMXRequest) -> Template | Redirect:
        found = await _draft_at(request, "verify")
        if isinstance(found, Response):
            return found
        outcome = await service.resend_code(found[0], settings=request.app.state.settings)
        return await self._after_write(request, found[0], "verify", errors=outcome.errors, notice=outcome.notice)

    @get("/contact", name="registration:contact")
    async def contact(self, request: HTMXRequest, role: FromQuery[str] = "") -> Template | Redirect:
        return await self._show(request, "contact", form=ContactForm(role=role) if role else None)

    @get("/contact/fields", name="registration:contact-fields")
    async def contact_fields(self, request: HTMXRequest, role: FromQuery[str] = "") -> Template | Redirect:
        """The application-specific fields of one role (htmx swaps them in when the role changes)."""
        draft = await _draft_or_none(request)
        if draft is None:
            return _expired(request)
        if not wants_fragment(request):
            url = request.app.route_reverse("registration:contact") + "?" + urlencode({"role": role[:40]})
            return Redirect(url, status_code=303)
        return await role_fields_fragment(draft["application"], role)

    @post("/contact", name="registration:contact-save", status_code=200)
    async def contact_save(self, request: HTMXRequest) -> Template | Redirect:
        data = await parse_form(request, ContactForm)
        if data.action == "role":  # without JavaScript: show the chosen role's fields, keep the rest
            return await self._show(request, "contact", form=data)
        return await self._save(request, "contact", data)

    @get("/questions", name="registration:questions")
    async def questions(self, request: HTMXRequest) -> Template | Redirect:
        return await self._show(request, "questions")

    @post("/questions", name="registration:questions-save", status_code=200)
    async def questions_save(self, request: HTMXRequest) -> Template | Redirect:
        return await self._save(request, "questions", await parse_form(request, QuestionsForm))

    @get("/review", name="registration:review")
    async def review(self, request: HTMXRequest) -> Template | Redirect:
        return await self._show(request, "review")

    @get("/review/{section:str}/edit", name="registration:review-edit")
    async def review_edit(self, request: HTMXRequest, section: FromPath[str]) -> Template | Redirect:
        """Click-to-edit: the section's form in place (htmx), or the step's own page."""
        if section not in REVIEW_SECTIONS:
            raise NotFoundException()
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse(f"registration:{section}") + "?from=review", status_code=303)
        found = await _draft_at(request, "review")
        if isinstance(found, Response):
            return found
        ctx = await self._context(request, found[1], BY_SLUG[section])
        return self._section(ctx, section, editing=True)

    @get("/review/{section:str}", name="registration:review-section")
    async def review_section(self, request: HTMXRequest, section: FromPath[str]) -> Template | Redirect:
        """The read-only section (Cancel from the inline form)."""
        if section not in REVIEW_SECTIONS:
            raise NotFoundException()
        if not wants_fragment(request):
            return Redirect(request.app.route_reverse("registration:review"), status_code=303)
        found = await _draft_at(request, "review")  # a draft not at review has no sections to show
        if isinstance(found, Response):
            return found
        ctx = await self._context(request, found[1], BY_SLUG["review"])
        return self._section(ctx, section, editing=False)

    @post("/review/{section:str}", name="registration:review-save", status_code=200)
    async def review_save(self, request: HTMXRequest, section: FromPath[str]) -> Template | Redirect:
        """Save from the inline form: valid turns the section back to read-only; invalid keeps
        the form with its messages. The email address is never part of it."""
        if section not in REVIEW_SECTIONS:
            raise NotFoundException()
        found = await _draft_at(request, "review")
        if isinstance(found, Response):
            return found
        token = found[0]
        form = await parse_form(request, STEP_FORMS[section])
        outcome = await self._run(request, section, token, form)
        if outcome.errors.get("_draft"):
            return _expired(request)
        if not wants_fragment(request):
            if outcome.ok:
                return Redirect(request.app.route_reverse("registration:review"), status_code=303)
            return await self._after_write(request, token, section, form=form, errors=outcome.errors, from_review=True)
        draft = await q.get_draft(token)
        ctx = await self._context(
            request, draft, BY_SLUG["review"] if outcome.ok else BY_SLUG[section], form=form if not outcome.ok else None
        )
        ctx["errors"] = outcome.errors
        return self._section(ctx, section, editing=not outcome.ok)

    @post("/submit", name="registration:submit", status_code=200)
    async def submit(self, request: HTMXRequest) -> Template | Redirect:
        found = await _draft_at(request, "review", "done")  # "done": a replayed submit
        if isinstance(found, Response):
            return found
        token, draft = found
        settings = request.app.state.settings
        outcome = await service.submit(
            token,
            settings=settings,
            cipher=request.app.state.cipher,
            status_url=settings.base_url + request.app.route_reverse("status:form"),
        )
        if outcome.errors.get("_draft"):
            return _expired(request)
        if outcome.errors.get("_pending"):
            return render(
                request,
                "registration/already_pending.html",
                {"tracking_number": outcome.errors["_pending"], "draft": draft},
            )
        if outcome.errors:
            return await self._after_write(request, token, "review", errors=outcome.errors)
        return await self._after_write(request, token, "done", push=True)

    @get("/done", name="registration:done")
    async def done(self, request: HTMXRequest) -> Template | Redirect:
        return await self._show(request, "done")

    @post("/done", name="registration:finish", status_code=200)
    async def finish(self, request: HTMXRequest) -> Redirect:
        """OK: the draft ends (its data now lives only in the request) and the cookie goes."""
        drafts = request.app.state.drafts
        token = drafts.token(request)
        draft = await q.get_draft(token) if token else None
        if draft is not None and not draft.get("tracking_number"):
            # Not submitted yet: OK must not throw the draft away.
            return redirect(request, request.app.route_reverse(first_unfinished(draft).route))
        if draft is not None:
            await q.delete_draft(token)
        response = redirect(request, request.app.route_reverse("home:getting-ready"))
        response.set_cookie(drafts.clear())
        return response

    # ---- Shared machinery ---------------------------------------------------------------------

    async def _run(self, request: Request, slug: str, token: str, form: Any) -> service.Outcome:
        settings, cipher = request.app.state.settings, request.app.state.cipher
        if slug == "personal":
            return await service.save_personal(token, form, settings=settings, cipher=cipher)
        if slug == "verify":
            return await service.verify_code(token, form, settings=settings)
        if slug == "contact":
            return await service.save_contact(token, form, cipher=cipher)
        return await service.save_questions(token, form)

    async def _save(self, request: HTMXRequest, slug: str, form: Any) -> Template | Redirect:
        found = await _draft_at(request, slug)
        if isinstance(found, Response):
            return found
        token = found[0]
        outcome = await self._run(request, slug, token, form)
        if outcome.errors.get("_draft"):
            return _expired(request)
        from_review = request.query_params.get("from") == "review"
        if not outcome.ok:
            errors = outcome.errors
            return await self._after_write(request, token, slug, form=form, errors=errors, from_review=from_review)
        draft = await q.get_draft(token)
        nxt = BY_SLUG["review"] if from_review and may_visit(draft, "review") else first_unfinished(draft)
        if wants_fragment(request):
            response = await self._render_step(request, draft, nxt, push=True, notice=outcome.notice)
        else:
            response = Redirect(request.app.route_reverse(nxt.route), status_code=303)
        response.set_cookie(request.app.state.drafts.issue(token))  # idle clock starts again
        return response

    async def _show(
        self,
        request: HTMXRequest,
        slug: str,
        *,
        form: Any = None,
        errors: dict | None = None,
        notice: str = "",
        push: bool = False,
        from_review: bool | None = None,
    ) -> Template | Redirect:
        found = await _draft_at(request, slug)
        if isinstance(found, Response):
            return found
        draft = found[1]
        return await self._render_step(
            request,
            draft,
            BY_SLUG[slug],
            form=form,
            errors=errors or {},
            notice=notice,
            push=push,
            from_review=from_review,
        )

    async def _after_write(self, request: HTMXRequest, token: str, slug: str, **options: Any) -> Template | Redirect:
        """Step ``slug`` again once this request has written to the draft (read afresh; the
        cookie was checked when the request began)."""
        draft = await q.get_draft(token)
        if draft is None:
            return _expired(request)
        return await self._render_step(request, draft, BY_SLUG[slug], **options)

    async def _context(self, request: Request, draft: dict[str, Any], step: Step, form: Any = None) -> dict[str, Any]:
        cipher = request.app.state.cipher
        roles, rules = await q.role_rules(draft["application"]) if step.slug in {"contact", "review"} else ([], {})
        sensitive = {r.key for rs in rules.values() for r in rs if r.sensitive}
        if form is None:
            if step.slug == "personal":
                form = service.personal_form_from(draft, cipher)
            elif step.slug == "contact":
                form = service.contact_form_from(draft, cipher, sensitive)
            else:
                form = QuestionsForm() if step.slug == "questions" else None
        ctx: dict[str, Any] = {
            "draft": draft,
            "step": step,
            "steps": STEPS,
            "form": form,
            "errors": {},
            "notice": "",
            "from_review": False,
            "states": STATES,
            "questions": QUESTIONS,
            "slots": SLOTS,
            "min_questions": MIN_QUESTIONS,
            "role_options": [(r["code"], r["name"]) for r in roles],
            "fields_url": request.app.route_reverse("registration:contact-fields"),
            "saved_fields": ((draft.get("contact") or {}).get("fields")) or {},
            "rules": rules.get(getattr(form, "role", "") or "", []) if step.slug == "contact" else [],
            "code_minutes": int(CODE_LIFETIME.total_seconds() // 60),
            "now": q.now(),
        }
        if step.slug == "review":
            ctx["summary"] = service.summary(draft, cipher, rules)
        return ctx

    async def _render_step(
        self,
        request: HTMXRequest,
        draft: dict[str, Any],
        step: Step,
        *,
        form: Any = None,
        errors: dict | None = None,
        notice: str = "",
        push: bool = False,
        from_review: bool | None = None,
    ) -> Template:
        ctx = await self._context(request, draft, step, form)
        ctx["errors"] = errors or {}
        ctx["notice"] = notice
        ctx["from_review"] = bool(
            from_review if from_review is not None else request.query_params.get("from") == "review"
        )
        url = request.app.route_reverse(step.route)
        return render(
            request,
            "registration/step.html",
            ctx,
            fragment="registration/_step.html",
            push_url=url if push else None,
        )

    def _section(self, ctx: dict[str, Any], section: str, *, editing: bool) -> Template:
        ctx["section"] = section
        ctx["editing"] = editing
        ctx["swapped"] = True
        return Template(template_name="registration/_review_section.html", context=ctx, headers=VARY)
