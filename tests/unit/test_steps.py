"""The six steps, their order, and where a draft may go (portal/registration/steps.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from portal.models.rows import AnswerSet, ContactData, Draft, PersonalData, QuestionHash
from portal.registration.steps import BY_SLUG, STEPS, Slug, after_save, finished, first_unfinished, may_visit

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STAGES = ("new", "personal", "verified", "contact", "questions", "submitted")
SLUGS = [step.slug for step in STEPS]


def draft(stage: str = "new", **fields: Any) -> Draft:
    """A draft that has reached ``stage`` (every stage before it done too); ``fields`` override
    what the stage sets. The one place that knows what a draft looks like."""
    done = STAGES[: STAGES.index(stage) + 1]
    values: dict[str, Any] = {
        "id": 1,
        "token": "draft-token",
        "application": 1,
        "application_code": "PSR",
        "application_name": "Provider Statistical and Reimbursement System",
        "requires_ssn": False,
        "terms_version": "2026.11",
        "terms_accepted_at": AT,
        "updated_at": AT,
    }
    if "personal" in done:
        values |= {
            "personal": PersonalData(first_name="Ann", middle_initial="", last_name="Lee", date_of_birth="1980-03-27"),
            "email": "ann@example.com",
        }
    if "verified" in done:
        values["email_verified_at"] = AT
    if "contact" in done:
        values |= {"contact": ContactData(organization="Acme", fields={}), "role": 7}
    if "questions" in done:
        values["questions"] = AnswerSet(["first-car", "first-school"], "$argon2id$h")
    if "submitted" in done:
        values["tracking_number"] = "IACS-2345-6789-ABCD"
    return Draft(**(values | fields))


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
        ("personal", {"personal": None}, "personal"),  # an email address without the details
        ("verified", {"email_verified_at": None}, "verify"),
        ("contact", {"role": None}, "contact"),  # contact details without a role
        ("contact", {"contact": None}, "contact"),  # a role without contact details
        ("questions", {"questions": []}, "questions"),
        ("new", {"email_verified_at": AT}, "personal"),  # verified but nothing typed: still step 1
        ("verified", {"questions": [QuestionHash("first-car", "h1")]}, "contact"),  # a later step does not skip one
        ("new", {"tracking_number": "IACS-2345-6789-ABCD"}, "done"),  # submitted wins over everything
    ],
)
def test_a_step_is_finished_only_when_all_its_parts_are(stage, fields, next_step):
    assert first_unfinished(draft(stage, **fields)).slug == next_step


@pytest.mark.parametrize(
    ("stage", "done"),
    [
        ("new", []),
        ("personal", ["personal"]),
        ("verified", ["personal", "verify"]),
        ("contact", ["personal", "verify", "contact"]),
        ("questions", ["personal", "verify", "contact", "questions"]),
        ("submitted", ["personal", "verify", "contact", "questions"]),  # review and done are never "finished"
    ],
)
def test_which_steps_are_finished(stage, done):
    assert [slug for slug in SLUGS if finished(draft(stage), slug)] == done


@pytest.mark.parametrize(
    ("stage", "from_review", "next_step"),
    [
        ("personal", False, "verify"),  # a saved step goes on to the first step not done
        ("contact", False, "questions"),
        ("questions", False, "review"),
        ("questions", True, "review"),  # edited from Review Details: back there
        ("personal", True, "verify"),  # ...but only when the draft may be there
        ("contact", True, "questions"),
        ("submitted", True, "done"),
        ("submitted", False, "done"),
    ],
)
def test_where_a_saved_step_goes(stage, from_review, next_step):
    assert after_save(draft(stage), from_review=from_review).slug == next_step


def test_a_submitted_draft_may_visit_only_the_acknowledgement():
    submitted = draft("submitted")
    assert may_visit(submitted, Slug.DONE)
    assert not may_visit(submitted, Slug.REVIEW)
    assert not may_visit(submitted, Slug.PERSONAL)


def test_the_acknowledgement_is_out_of_reach_before_submitting():
    assert not may_visit(draft("questions"), Slug.DONE)


def test_an_unknown_step_is_refused_loudly():
    with pytest.raises(KeyError):
        may_visit(draft("new"), "payment")  # type: ignore[arg-type]
