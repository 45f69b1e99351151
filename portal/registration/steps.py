"""The six steps, their order, and which one a draft must do next."""

from __future__ import annotations

from typing import Any

import msgspec


class Step(msgspec.Struct, frozen=True):
    number: int
    slug: str
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
        own = self.slug in {"verify", "review", "done"}
        return f"registration/steps/{self.slug if own else '_form'}.html"


STEPS = (
    Step(1, "personal", "New User Registration"),
    Step(2, "verify", "Email Verification"),
    Step(3, "contact", "Contact Information"),
    Step(4, "questions", "Authentication Questions"),
    Step(5, "review", "Review Details"),
    Step(6, "done", "Acknowledgement"),
)
BY_SLUG = {s.slug: s for s in STEPS}


def _finished(draft: dict[str, Any], slug: str) -> bool:
    """Whether step ``slug`` (personal to questions) has been done on this draft."""
    return {
        "personal": bool(draft.get("personal") and draft.get("email")),
        "verify": bool(draft.get("email_verified_at")),
        "contact": bool(draft.get("contact") and draft.get("role")),
        "questions": bool(draft.get("questions")),
    }[slug]


def first_unfinished(draft: dict[str, Any]) -> Step:
    """Where the draft goes next: the acknowledgement once submitted, else the first step not
    done, else Review Details."""
    if draft.get("tracking_number"):
        return BY_SLUG["done"]
    return next((step for step in STEPS[:4] if not _finished(draft, step.slug)), BY_SLUG["review"])


def may_visit(draft: dict[str, Any], slug: str) -> bool:
    """A step may be shown when every step before it is finished. Once submitted, only the
    acknowledgement is left; before that, the acknowledgement is out of reach."""
    if draft.get("tracking_number"):
        return slug == "done"
    return slug != "done" and BY_SLUG[slug].number <= first_unfinished(draft).number
