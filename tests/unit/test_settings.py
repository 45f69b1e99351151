"""portal/settings.py"""

import pytest

from portal.settings import DEFAULT_SECRET_KEY, SettingsError, from_env

PROD = {
    "PORTAL_ENV": "production",
    "PORTAL_SECRET_KEY": "s" * 48,
    "PORTAL_DATA_KEY": "ZmFrZS1idXQtbm90LWRlZmF1bHQtZGF0YS1rZXktISE=",
    "PORTAL_BASE_URL": "https://iacs.example.gov",
    "PORTAL_DATABASE_URL": "postgresql://portal@db:5432/portal",
}


def test_defaults_are_a_local_development_setup():
    s = from_env({})
    assert s.env == "development" and not s.production
    assert s.database_url == "sqlite:///portal.db" and s.is_sqlite
    assert s.smtp_url == "smtp://127.0.0.1:1025"
    assert s.base_url == "http://localhost:8000"


def test_every_variable_is_read():
    s = from_env(
        {
            **PROD,
            "PORTAL_SMTP_URL": "smtp://mail:25",
            "PORTAL_MAIL_FROM": "a@b.gov",
            "PORTAL_DB_POOL_SIZE": "4",
            "PORTAL_REDIS_URL": "redis://cache:6379/2",
            "PORTAL_MFA_REQUIRED": "all",
        }
    )
    assert s.redis_url == "redis://cache:6379/2"
    assert s.mfa_required == "all"
    assert s.production and s.smtp_url == "smtp://mail:25" and s.mail_from == "a@b.gov"
    assert s.db_pool_size == 4 and s.database_url.startswith("postgresql://")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"PORTAL_SECRET_KEY": ""}, "PORTAL_SECRET_KEY must be set to a secret value in production"),
        ({"PORTAL_SECRET_KEY": DEFAULT_SECRET_KEY}, "PORTAL_SECRET_KEY must be set to a secret value in production"),
        ({"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY must be at least 32 characters in production"),
        ({"PORTAL_DATA_KEY": ""}, "PORTAL_DATA_KEY must be set to a secret value in production"),
        ({"PORTAL_BASE_URL": "http://iacs.example.gov"}, "PORTAL_BASE_URL must start with https:// in production"),
    ],
)
def test_production_refuses_missing_or_default_secrets(override, message):
    env = {k: v for k, v in {**PROD, **override}.items() if v}
    with pytest.raises(SettingsError) as exc:
        from_env(env)
    assert str(exc.value) == message
    assert "\n" not in str(exc.value)


def test_production_with_real_secrets_starts():
    assert from_env(PROD).production


def test_invalid_value_names_the_variable():
    with pytest.raises(SettingsError, match="^PORTAL_ENV is invalid"):
        from_env({"PORTAL_ENV": "staging"})
    with pytest.raises(SettingsError, match="^PORTAL_DB_POOL_SIZE is invalid"):
        from_env({"PORTAL_DB_POOL_SIZE": "many"})
    with pytest.raises(SettingsError, match="^PORTAL_MFA_REQUIRED is invalid"):
        from_env({"PORTAL_MFA_REQUIRED": "approvers"})


@pytest.mark.parametrize("env", [{}, PROD])
@pytest.mark.parametrize("key", ["not base64!", "c2hvcnQ=", "ZmFrZS1idXQtbm90LWRlZmF1bHQtZGF0YS1rZXktISE=,oops"])
def test_a_malformed_data_key_is_refused_in_one_line(env, key):
    with pytest.raises(SettingsError) as exc:
        from_env({**env, "PORTAL_DATA_KEY": key})
    assert str(exc.value) == "PORTAL_DATA_KEY must be base64 of 32 bytes (comma-separated keys for rotation)"


def test_the_help_desk_is_read_once_from_the_environment():
    default = from_env({}).help_desk
    assert default.phone and default.email and default.hours
    desk = from_env(
        {
            "PORTAL_HELP_DESK_PHONE": "+1 (800) 555-0199",
            "PORTAL_HELP_DESK_EMAIL": "desk@cms.example.gov",
            "PORTAL_HELP_DESK_HOURS": "Weekdays, 7am to 7pm ET",
        }
    ).help_desk
    assert (desk.phone, desk.email, desk.hours) == (
        "+1 (800) 555-0199",
        "desk@cms.example.gov",
        "Weekdays, 7am to 7pm ET",
    )
    assert desk.phone_uri == "tel:+18005550199"
    assert from_env({"PORTAL_HELP_DESK_PHONE": "410-555-0100 ext. 2"}).help_desk.phone_uri == "tel:4105550100"


def test_log_format_and_metrics_allow_are_read_and_checked():
    s = from_env({})
    assert s.log_format == "text" and s.metrics_allow == "127.0.0.1/32,::1"
    s = from_env({"PORTAL_LOG_FORMAT": "json", "PORTAL_METRICS_ALLOW": "10.0.0.0/8, 192.0.2.7"})
    assert s.log_format == "json" and s.metrics_allow == "10.0.0.0/8, 192.0.2.7"
    with pytest.raises(SettingsError, match="PORTAL_LOG_FORMAT is invalid"):
        from_env({"PORTAL_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError) as exc:
        from_env({"PORTAL_METRICS_ALLOW": "127.0.0.1, everyone"})
    assert str(exc.value) == "PORTAL_METRICS_ALLOW: 'everyone' is not an IP address or network"


def test_the_mail_retry_backoff_is_read_and_checked():
    from portal.mail.worker import retry_delay

    settings = from_env({"PORTAL_MAIL_RETRY_SECONDS": "2", "PORTAL_MAIL_RETRY_MAX_SECONDS": "5"})
    delays = [retry_delay(n, settings) for n in (1, 2, 3, 9)]
    assert [d.total_seconds() for d in delays] == [2, 4, 5, 5]
    for env in ({"PORTAL_MAIL_RETRY_SECONDS": "0"}, {"PORTAL_MAIL_RETRY_MAX_SECONDS": "10"}):
        with pytest.raises(SettingsError, match="PORTAL_MAIL_RETRY_SECONDS must be at least 1"):
            from_env(env)
