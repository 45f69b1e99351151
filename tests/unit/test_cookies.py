"""portal/auth.py and portal/drafts.py: cookie attributes in development and production."""

import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal.auth import SessionCookies
from portal.drafts import SALT, DraftCookies
from portal.settings import Settings

PROD = Settings(env="production", secret_key="s" * 48, data_key="x" * 44, base_url="https://iacs.example.gov")
DEV = Settings()


def test_session_cookie_is_host_prefixed_and_secure_in_production():
    cookie = SessionCookies(PROD).issue("token")
    assert cookie.key == "__Host-iacs_session" and cookie.secure and cookie.httponly
    assert cookie.samesite == "lax" and cookie.path == "/" and cookie.domain is None


def test_session_cookie_in_development_works_over_plain_http():
    cookie = SessionCookies(DEV).issue("token")
    assert cookie.key == "iacs_session" and not cookie.secure and cookie.httponly and cookie.samesite == "lax"


def test_draft_cookie_is_signed_scoped_and_secure_in_production():
    cookies = DraftCookies(PROD)
    cookie = cookies.issue("draft-token")
    assert cookie.secure and cookie.httponly and cookie.samesite == "lax" and cookie.path == "/register"
    assert cookie.max_age == 24 * 3600 and "draft-token" not in cookie.value.split(".")[-1]
    with pytest.raises(BadSignature):  # another secret cannot read it
        URLSafeTimedSerializer("t" * 48, salt=SALT).loads(cookie.value, max_age=60)
