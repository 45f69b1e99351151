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


STEPS = (
    Step(1, "personal", "New User Registration"),
    Step(2, "verify", "Email Verification"),
    Step(3, "contact", "Contact Information"),
    Step(4, "questions", "Authentication Questions"),
    Step(5, "review", "Review Details"),
    Step(6, "done", "Acknowledgement"),
)
BY_SLUG = {s.slug: s for s in STEPS}


def completed(draft: dict[str, Any]) -> set[str]:
    done: set[str] = set()
    if draft.get("personal") and draft.get("email"):
        done.add("personal")
    if draft.get("email_verified_at"):
        done.add("verify")
    if draft.get("contact") and draft.get("role"):
        done.add("contact")
    if draft.get("questions"):
        done.add("questions")
    if draft.get("tracking_number"):
        done.add("review")
    return done


def first_unfinished(draft: dict[str, Any]) -> Step:
    done = completed(draft)
    if draft.get("tracking_number"):
        return BY_SLUG["done"]
    for step in STEPS:
        if step.slug not in done:
            return step
    return BY_SLUG["done"]


def may_visit(draft: dict[str, Any], slug: str) -> bool:
    """A step may be shown when every step before it is finished. Once submitted, only the
    acknowledgement is left; before that, the acknowledgement is out of reach."""
    target = BY_SLUG[slug]
    nxt = first_unfinished(draft)
    if draft.get("tracking_number"):
        return slug == "done"
    if slug == "done":
        return False
    return target.number <= nxt.number
