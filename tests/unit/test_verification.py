"""Email verification rules (portal/registration/verification.py): 6-digit codes valid 30
minutes, a resend at most once a minute and five times an hour, five wrong tries in an hour
lock the step and void the code."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from portal.models.rows import CodeSend, Draft
from portal.registration import verification
from portal.registration.verification import (
    CodeVerdict,
    ResendVerdict,
    judge,
    may_send,
    new_code,
    recent_sends,
    recent_wrong_tries,
    unlock_time,
)

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIVE_MINUTES_AGO = AT - timedelta(minutes=5)


def ago(minutes: float = 0, seconds: float = 0) -> datetime:
    return AT - timedelta(minutes=minutes, seconds=seconds)


def sends(*times: datetime) -> list[CodeSend]:
    """The sends of codes at ``times``, each with a digest of its own. The one place that knows
    what a send looks like."""
    return [CodeSend(at=t.isoformat(), digest=f"digest-{i}") for i, t in enumerate(times)]


def tries(*times: datetime) -> list[str]:
    """Wrong tries at ``times``."""
    return [t.isoformat() for t in times]


def draft(
    *,
    code: str | None = "current",
    sent: datetime = FIVE_MINUTES_AGO,
    earlier: Iterable[tuple[str, datetime]] = (),
    voided: bool = False,
    wrong: Iterable[datetime] = (),
) -> Draft:
    """A draft whose newest code (digest ``code``, or none) was sent at ``sent`` after the
    ``earlier`` (digest, time) ones, with ``wrong`` tries. The one place that knows what a
    draft looks like."""
    history = [CodeSend(at=t.isoformat(), digest=d) for d, t in earlier]
    if code:
        history.append(CodeSend(at=sent.isoformat(), digest=code))
    return Draft(
        id=1,
        token="draft-token",
        application=1,
        application_code="PSR",
        application_name="Provider Statistical and Reimbursement System",
        requires_ssn=False,
        terms_version="2026.11",
        terms_accepted_at=AT,
        updated_at=AT,
        email="ann@example.com",
        code_hash=code,
        code_expires_at=sent + verification.CODE_LIFETIME if code else None,
        code_voided=voided,
        code_sends=history,
        code_wrong_tries=tries(*wrong),
    )


# -- codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("drawn", "code"), [(0, "000000"), (42, "000042"), (123456, "123456"), (999_999, "999999")])
def test_a_code_is_six_digits_with_leading_zeros(monkeypatch, drawn, code):
    monkeypatch.setattr(verification.secrets, "randbelow", lambda n: drawn if n == 1_000_000 else -1)
    assert new_code() == code


def test_new_codes_are_six_ascii_digits_and_vary():
    codes = [new_code() for _ in range(500)]
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    assert len(set(codes)) > 450


def test_the_rules_in_numbers():
    assert verification.CODE_LIFETIME == timedelta(minutes=30)
    assert verification.RESEND_GAP == timedelta(minutes=1)
    assert verification.WINDOW == timedelta(hours=1)
    assert (verification.MAX_SENDS_PER_HOUR, verification.MAX_WRONG_PER_HOUR) == (5, 5)


# -- sending ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "verdict", "again"),
    [
        ([], ResendVerdict.ALLOWED, AT),
        ([ago(seconds=1)], ResendVerdict.TOO_SOON, AT + timedelta(seconds=59)),
        ([ago(seconds=30)], ResendVerdict.TOO_SOON, AT + timedelta(seconds=30)),
        ([ago(seconds=59)], ResendVerdict.TOO_SOON, AT + timedelta(seconds=1)),
        ([ago(minutes=1)], ResendVerdict.ALLOWED, AT),  # once a minute: exactly a minute is enough
        ([ago(minutes=10), ago(seconds=20)], ResendVerdict.TOO_SOON, AT + timedelta(seconds=40)),
        ([ago(seconds=20), ago(minutes=10)], ResendVerdict.TOO_SOON, AT + timedelta(seconds=40)),  # any order
        ([ago(m) for m in (50, 40, 30, 20)], ResendVerdict.ALLOWED, AT),  # four in the hour
        ([ago(m) for m in (50, 40, 30, 20, 10)], ResendVerdict.HOURLY_LIMIT, AT + timedelta(minutes=10)),
        ([ago(m) for m in (10, 20, 50, 40, 30)], ResendVerdict.HOURLY_LIMIT, AT + timedelta(minutes=10)),
        ([ago(m) for m in (59, 4, 3, 2, 1)], ResendVerdict.HOURLY_LIMIT, AT + timedelta(minutes=1)),
        # the hourly limit is the later of the two times, so it is the one given
        (
            [ago(m) for m in (50, 40, 30, 20)] + [ago(seconds=10)],
            ResendVerdict.HOURLY_LIMIT,
            AT + timedelta(minutes=10),
        ),
        ([ago(m) for m in (60, 40, 30, 20, 10)], ResendVerdict.ALLOWED, AT),  # an hour ago is out of the hour
        ([ago(m) for m in (120, 90, 61, 60, 45)], ResendVerdict.ALLOWED, AT),
    ],
)
def test_a_code_may_be_sent_once_a_minute_and_five_times_an_hour(sent, verdict, again):
    assert may_send(sends(*sent), AT) == (verdict, again)


def test_the_sends_of_the_last_hour_oldest_first():
    history = sends(ago(minutes=5), ago(minutes=90), ago(minutes=60), ago(minutes=59, seconds=59), ago(seconds=1))
    assert recent_sends(history, AT) == [
        CodeSend(at=ago(minutes=59, seconds=59).isoformat(), digest="digest-3"),
        CodeSend(at=ago(minutes=5).isoformat(), digest="digest-0"),
        CodeSend(at=ago(seconds=1).isoformat(), digest="digest-4"),
    ]


# A new draft's sends (none yet), and an empty list.
@pytest.mark.parametrize("nothing", [draft(code=None).code_sends, []], ids=["new draft", "empty"])
def test_no_sends_yet(nothing):
    assert recent_sends(nothing, AT) == []
    assert may_send(nothing, AT) == (ResendVerdict.ALLOWED, AT)


# -- judging a code ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "typed", "verdict"),
    [
        (draft(), "current", CodeVerdict.VERIFIED),
        (draft(), "something-else", CodeVerdict.WRONG),
        (draft(sent=ago(minutes=29, seconds=59)), "current", CodeVerdict.VERIFIED),
        (draft(sent=ago(minutes=30)), "current", CodeVerdict.EXPIRED),  # valid 30 minutes, not a second more
        (draft(sent=ago(minutes=45)), "current", CodeVerdict.EXPIRED),
        (draft(sent=ago(minutes=45)), "something-else", CodeVerdict.WRONG),
        # a resend voids the earlier code, whether or not it would have expired
        (draft(earlier=[("first", ago(minutes=3))], sent=ago(minutes=1)), "first", CodeVerdict.VOIDED),
        (draft(earlier=[("first", ago(minutes=3))], sent=ago(minutes=1)), "current", CodeVerdict.VERIFIED),
        (draft(earlier=[("first", ago(minutes=50))], sent=ago(minutes=5)), "first", CodeVerdict.VOIDED),
        # the fifth wrong try voided it; once the tries are out of the hour it says so
        (draft(voided=True, sent=ago(minutes=20)), "current", CodeVerdict.VOIDED),
        (draft(voided=True, sent=ago(minutes=45)), "current", CodeVerdict.VOIDED),  # voided before expired
        (draft(voided=True), "something-else", CodeVerdict.WRONG),
        (draft(code=None), "current", CodeVerdict.NO_CODE),
        (draft(code=None), "", CodeVerdict.NO_CODE),
    ],
)
def test_a_typed_code_is_judged(state, typed, verdict):
    assert judge(state, typed, AT) is verdict


FIVE_WRONG = [ago(minutes=m) for m in (40, 30, 20, 10, 1)]


@pytest.mark.parametrize(
    ("wrong", "typed", "verdict"),
    [
        (FIVE_WRONG[:4], "current", CodeVerdict.VERIFIED),  # four wrong tries: the right code still works
        (FIVE_WRONG[:4], "something-else", CodeVerdict.WRONG),
        (FIVE_WRONG, "current", CodeVerdict.LOCKED),  # five: even the right code waits
        (FIVE_WRONG, "something-else", CodeVerdict.LOCKED),
        ([ago(minutes=60), *FIVE_WRONG[1:]], "current", CodeVerdict.VERIFIED),  # the oldest left the hour
        ([ago(minutes=m) for m in (300, 200, 100, 90, 61)], "current", CodeVerdict.VERIFIED),
    ],
)
def test_five_wrong_tries_in_an_hour_lock_the_step(wrong, typed, verdict):
    assert judge(draft(wrong=wrong), typed, AT) is verdict


def test_a_lock_holds_even_without_a_code():
    assert judge(draft(code=None, wrong=FIVE_WRONG), "current", AT) is CodeVerdict.LOCKED


def test_a_lock_holds_even_for_a_voided_code():
    assert judge(draft(voided=True, wrong=FIVE_WRONG), "current", AT) is CodeVerdict.LOCKED


@pytest.mark.parametrize(
    ("wrong", "unlocked_at"),
    [
        (FIVE_WRONG, AT + timedelta(minutes=20)),  # the oldest try of the hour (40 minutes ago) plus an hour
        (list(reversed(FIVE_WRONG)), AT + timedelta(minutes=20)),
        ([ago(minutes=90), *FIVE_WRONG[1:]], AT + timedelta(minutes=30)),  # a try out of the hour does not count
        ([ago(minutes=60), ago(minutes=59)], AT + timedelta(minutes=1)),
        ([ago(minutes=90)], AT),  # nothing in the hour: now
        ([], AT),
    ],
)
def test_the_step_unlocks_an_hour_after_the_oldest_wrong_try_of_the_hour(wrong, unlocked_at):
    assert unlock_time(tries(*wrong), AT) == unlocked_at


def test_the_wrong_tries_of_the_last_hour_oldest_first():
    history = tries(ago(minutes=5), ago(minutes=61), ago(minutes=60), ago(minutes=59), ago(seconds=1))
    assert recent_wrong_tries(history, AT) == tries(ago(minutes=59), ago(minutes=5), ago(seconds=1))


# A new draft's wrong tries (none yet), and an empty list.
@pytest.mark.parametrize("nothing", [draft(code=None).code_wrong_tries, []], ids=["new draft", "empty"])
def test_no_wrong_tries_yet(nothing):
    assert recent_wrong_tries(nothing, AT) == []
