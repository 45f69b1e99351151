"""portal/accounts/passwords.py: the password policy (NIST SP 800-63B rev. 4, password-only)."""

import pytest

from portal.accounts.passwords import MAX_LENGTH, common_passwords, initial_password, problem
from portal.accounts.userids import looks_like_user_id, new_user_id

NAMES = ("Maria", "Lopez")


def check(pw: str) -> str | None:
    return problem(pw, user_id="KXPT472", names=NAMES)


def test_fifteen_characters_is_the_minimum():
    assert check("tulip ocean rug") is None  # exactly 15
    assert check("tulip ocean ru") == "Your password must be at least 15 characters long"


def test_long_passwords_are_accepted_whole_and_never_truncated():
    long = "violet harbour " * 5 + "tram"  # 79 characters
    assert check(long) is None
    assert check("x7 " * 30 + "q") is None
    assert check("q" + "w9 " * (MAX_LENGTH // 3 + 1)) == f"Your password must be {MAX_LENGTH} characters or fewer"


def test_no_composition_rules():
    assert check("all lower case words here") is None
    assert check("857204619375028") is None  # digits only, not a sequence


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("qazwsxedcrfvtgb", "This password is on a list of commonly used passwords: choose another"),
        (
            "Password12345678!",
            "This password is a commonly used password with numbers or symbols added: choose another",
        ),
        (
            "iloveyou!!!!!!!!2024",
            "This password is a commonly used password with numbers or symbols added: choose another",
        ),
        ("passwordpassword", "Your password must not be the same characters repeated"),
        ("zzzzzzzzzzzzzzzzzz", "Your password must not be the same characters repeated"),
        ("123456789012345", "Your password must not be a simple sequence like 123456789 or abcdefgh"),
        ("abcdefghijklmnop", "Your password must not be a simple sequence like 123456789 or abcdefgh"),
        ("my id is kxpt472 ok", "Your password must not contain your User ID"),
        ("maria sunflower tree", "Your password must not contain your name"),
        ("garden LOPEZ window", "Your password must not contain your name"),
        ("my cms portal password", "Your password must not contain the words CMS or IACS"),
        ("IaCs forever and ever", "Your password must not contain the words CMS or IACS"),
    ],
)
def test_each_rule_refuses_with_its_reason(password, reason):
    assert check(password) == reason


def test_the_common_list_is_a_real_one():
    assert len(common_passwords()) >= 30_000
    assert {"password", "123456", "qwerty", "iloveyou"} <= common_passwords()


def test_initial_passwords_are_random_and_meet_the_policy():
    seen = {initial_password() for _ in range(50)}
    assert len(seen) == 50
    for pw in seen:
        assert len(pw) >= 15 and problem(pw) is None
        assert not set(pw) & set("0O1lI")


def test_user_ids_are_short_and_unambiguous():
    ids = {new_user_id() for _ in range(200)}
    assert len(ids) == 200
    for uid in ids:
        assert looks_like_user_id(uid) and len(uid) == 7
        assert not set(uid) & set("0O1IL")
