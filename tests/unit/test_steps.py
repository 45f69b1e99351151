"""The six steps, their order, and where a draft may go (portal/registration/steps.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from portal.registration.steps import BY_SLUG, STEPS, first_unfinished, may_visit

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STAGES = ("new", "personal", "verified", "contact", "questions", "submitted")
SLUGS = [step.slug for step in STEPS]


def draft(stage: str = "new", **fields: Any) -> dict[str, Any]:
    """A draft that has reached ``stage`` (every stage before it done too); ``fields`` override
    what the stage sets. The one place that knows what a draft looks like."""
    done = STAGES[: STAGES.index(stage) + 1]
    values: dict[str, Any] = {"token": "draft-token", "application": 1, "requires_ssn": False}
    if "personal" in done:
        values |= {
            "personal": {"first_name": "Ann", "middle_initial": "", "last_name": "Lee", "date_of_birth": "1980-03-27"},
            "email": "ann@example.com",
        }
    if "verified" in done:
        values["email_verified_at"] = AT
    if "contact" in done:
        values |= {"contact": {"organization": "Acme", "fields": {}}, "role": 7}
    if "questions" in done:
        values["questions"] = [
            {"question": "first-car", "answer_hash": "h1"},
            {"question": "first-school", "answer_hash": "h2"},
        ]
    if "submitted" in done:
        values["tracking_number"] = "IACS-2345-6789-ABCD"
    return values | fields


def test_the_six_steps_in_order():
    assert [(s.number, s.slug, s.name) for s in STEPS] == [
        (1, "personal", "New User Registration"),
        (2, "verify", "Email Verification"),
        (3, "contact", "Contact Information"),
        (4, "questions", "Authentication Questions"),
        (5, "review", "Review Details"),
        (6, "done", "Acknowledgement"),
    ]
    assert list(BY_SLUG) == SLUGS


@pytest.mark.parametrize(
    ("slug", "title", "route", "template"),
    [
        ("personal", "Step 1 of 6: New User Registration", "registration:personal", "registration/steps/_form.html"),
        ("verify", "Step 2 of 6: Email Verification", "registration:verify", "registration/steps/verify.html"),
        ("contact", "Step 3 of 6: Contact Information", "registration:contact", "registration/steps/_form.html"),
        (
            "questions",
            "Step 4 of 6: Authentication Questions",
            "registration:questions",
            "registration/steps/_form.html",
        ),
        ("review", "Step 5 of 6: Review Details", "registration:review", "registration/steps/review.html"),
        ("done", "Step 6 of 6: Acknowledgement", "registration:done", "registration/steps/done.html"),
    ],
)
def test_each_step_has_a_title_a_route_and_a_template(slug, title, route, template):
    step = BY_SLUG[slug]
    assert (step.title, step.route, step.template) == (title, route, template)


# stage reached -> the step it goes to next, and every step it may visit.
JOURNEY = [
    ("new", "personal", ["personal"]),
    ("personal", "verify", ["personal", "verify"]),
    ("verified", "contact", ["personal", "verify", "contact"]),
    ("contact", "questions", ["personal", "verify", "contact", "questions"]),
    ("questions", "review", ["personal", "verify", "contact", "questions", "review"]),
    ("submitted", "done", ["done"]),
]


@pytest.mark.parametrize(("stage", "next_step", "visitable"), JOURNEY)
def test_a_draft_goes_to_the_first_unfinished_step(stage, next_step, visitable):
    assert first_unfinished(draft(stage)).slug == next_step


@pytest.mark.parametrize(("stage", "next_step", "visitable"), JOURNEY)
def test_a_draft_may_visit_only_the_steps_up_to_the_next_one(stage, next_step, visitable):
    assert [slug for slug in SLUGS if may_visit(draft(stage), slug)] == visitable


@pytest.mark.parametrize(
    ("stage", "fields", "next_step"),
    [
        ("personal", {"email": ""}, "personal"),  # the personal details without an email address
        ("personal", {"personal": {}}, "personal"),  # an email address without the details
        ("verified", {"email_verified_at": None}, "verify"),
        ("contact", {"role": None}, "contact"),  # contact details without a role
        ("contact", {"contact": {}}, "contact"),
        ("questions", {"questions": []}, "questions"),
        ("new", {"email_verified_at": AT}, "personal"),  # verified but nothing typed: still step 1
        ("verified", {"questions": [{"question": "first-car"}]}, "contact"),  # a later step does not skip one
        ("new", {"tracking_number": "IACS-2345-6789-ABCD"}, "done"),  # submitted wins over everything
    ],
)
def test_a_step_is_finished_only_when_all_its_parts_are(stage, fields, next_step):
    assert first_unfinished(draft(stage, **fields)).slug == next_step


def test_a_submitted_draft_may_visit_only_the_acknowledgement():
    submitted = draft("submitted")
    assert may_visit(submitted, "done")
    assert not may_visit(submitted, "review")
    assert not may_visit(submitted, "personal")


def test_the_acknowledgement_is_out_of_reach_before_submitting():
    assert not may_visit(draft("questions"), "done")


def test_an_unknown_step_is_refused_loudly():
    with pytest.raises(KeyError):
        may_visit(draft("new"), "payment")
