"""Pure parts of the mail worker (portal/mail/worker.py): backoff, error text, SMTP URL,
message building. No database, no network."""

from datetime import timedelta

import aiosmtplib
import pytest

from portal.mail.outbox import Claimed
from portal.mail.worker import (
    CLAIM_LEASE,
    RENEW_AFTER,
    SMTP_TIMEOUT_SECONDS,
    SMTPConfig,
    build_message,
    describe_error,
    retry_delay,
)
from portal.settings import Settings

DEFAULTS = Settings()


def test_retry_delay_doubles_from_thirty_seconds():
    assert [retry_delay(n, DEFAULTS).total_seconds() for n in range(1, 8)] == [30, 60, 120, 240, 480, 960, 1920]


def test_retry_delay_is_capped_at_one_hour():
    assert retry_delay(8, DEFAULTS) == timedelta(hours=1)
    assert retry_delay(10_000, DEFAULTS) == timedelta(seconds=DEFAULTS.mail_retry_max_seconds)


def test_retry_delay_never_zero_or_negative():
    assert retry_delay(0, DEFAULTS) == timedelta(seconds=30)
    assert retry_delay(-3, DEFAULTS) == timedelta(seconds=30)


def test_the_claim_outlasts_its_renewal_and_one_message_timing_out_at_every_step():
    assert CLAIM_LEASE > RENEW_AFTER + timedelta(seconds=4 * SMTP_TIMEOUT_SECONDS)
    assert CLAIM_LEASE <= timedelta(minutes=3)  # a dead worker's messages wait no longer


def test_describe_error_keeps_type_and_code_but_no_address():
    refused = aiosmtplib.SMTPRecipientRefused(550, "no such user", "someone@example.org")
    text = describe_error(refused)
    assert text == "SMTPRecipientRefused (SMTP 550)"
    assert describe_error(ConnectionRefusedError(111, "refused to someone@example.org")) == "ConnectionRefusedError"


@pytest.mark.parametrize(
    ("url", "host", "port", "use_tls", "start_tls", "user", "password"),
    [
        ("smtp://127.0.0.1:1025", "127.0.0.1", 1025, False, None, None, None),
        ("smtp://mail.example.org", "mail.example.org", 25, False, None, None, None),
        ("smtp+starttls://u%40x:p%2Fw@mail.example.org:587", "mail.example.org", 587, False, True, "u@x", "p/w"),
        ("smtps://mail.example.org", "mail.example.org", 465, True, False, None, None),
    ],
)
def test_smtp_url(url, host, port, use_tls, start_tls, user, password):
    config = SMTPConfig(url)
    assert (config.hostname, config.port, config.use_tls, config.start_tls) == (host, port, use_tls, start_tls)
    assert (config.username, config.password) == (user, password)


def test_smtp_url_refuses_other_schemes():
    with pytest.raises(ValueError, match="PORTAL_SMTP_URL"):
        SMTPConfig("http://127.0.0.1:1025")


def test_build_message_has_the_row_headers_and_plain_body():
    row = Claimed(
        id=1,
        kind="verification_code",
        to_address="pat@example.org",
        subject="Your code",
        body="Code: 123456\n",
        message_id="<abc@iacs.portal>",
        attempts=0,
    )
    message = build_message(Settings(mail_from="IACS <no-reply@iacs.test>"), row)
    assert message["From"] == "IACS <no-reply@iacs.test>"
    assert message["To"] == "pat@example.org"
    assert message["Subject"] == "Your code"
    assert message["Message-ID"] == "<abc@iacs.portal>"
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "Code: 123456\n"
