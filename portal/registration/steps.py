"""The six steps, their order, and which one a draft must do next."""

from __future__ import annotations

import enum

import msgspec

from portal.models.rows import Draft


class Slug(enum.StrEnum):
    PERSONAL = "personal"
    VERIFY = "verify"
    CONTACT = "contact"
    QUESTIONS = "questions"
    REVIEW = "review"
    DONE = "done"


class Step(msgspec.Struct, frozen=True):
    number: int
    slug: Slug
    name: str

    @property
    def title(self) -> str:
        return f"Step {self.number} of {len(STEPS)}: {self.name}"

    @property
    def route(self) -> str:
        return f"registration:{self.slug}"

    @property
    def template(self) -> str:
        """Steps 1, 3 and 4 are one form of their fields; the others have pages of their own."""
        own = self.slug in {Slug.VERIFY, Slug.REVIEW, Slug.DONE}
        return f"registration/steps/{self.slug if own else '_form'}.html"


STEPS = (
    Step(1, Slug.PERSONAL, "New User Registration"),
    Step(2, Slug.VERIFY, "Email Verification"),
    Step(3, Slug.CONTACT, "Contact Information"),
    Step(4, Slug.QUESTIONS, "Authentication Questions"),
    Step(5, Slug.REVIEW, "Review Details"),
    Step(6, Slug.DONE, "Acknowledgement"),
)
BY_SLUG = {s.slug: s for s in STEPS}
# The sections of Review Details that can be changed (never the email address), by name.
REVIEW_SECTIONS = (Slug.PERSONAL, Slug.CONTACT, Slug.QUESTIONS)
SECTION_NAMES = {
    Slug.PERSONAL: "Personal information",
    Slug.CONTACT: "Contact information",
    Slug.QUESTIONS: "Authentication questions",
}


def finished(draft: Draft, slug: Slug) -> bool:
    """Whether step ``slug`` (personal to questions) has been done on this draft."""
    if slug is Slug.PERSONAL:
        return bool(draft.personal and draft.email)
    if slug is Slug.VERIFY:
        return draft.email_verified_at is not None
    if slug is Slug.CONTACT:
        return bool(draft.contact and draft.role)
    if slug is Slug.QUESTIONS:
        return bool(draft.questions)
    return False


def first_unfinished(draft: Draft) -> Step:
    """Where the draft goes next: the acknowledgement once submitted, else the first step not
    done, else Review Details."""
    if draft.tracking_number:
        return BY_SLUG[Slug.DONE]
    return next((step for step in STEPS[:4] if not finished(draft, step.slug)), BY_SLUG[Slug.REVIEW])


def may_visit(draft: Draft, slug: Slug) -> bool:
    """A step may be shown when every step before it is finished. Once submitted, only the
    acknowledgement is left; before that, the acknowledgement is out of reach."""
    if draft.tracking_number:
        return slug is Slug.DONE
    return slug is not Slug.DONE and BY_SLUG[slug].number <= first_unfinished(draft).number


def after_save(draft: Draft, *, from_review: bool) -> Step:
    """Where a saved step goes: back to Review Details when it was edited from there (and the
    draft may be there), else the first step not done."""
    if from_review and may_visit(draft, Slug.REVIEW):
        return BY_SLUG[Slug.REVIEW]
    return first_unfinished(draft)
