"""One typed settings struct, read from the ``PORTAL_*`` environment variables once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

import msgspec

DEFAULT_SECRET_KEY = "development-secret-key-change-me-0000000000"  # noqa: S105
DEFAULT_DATA_KEY = "ZGV2ZWxvcG1lbnQtZGF0YS1rZXktMzItYnl0ZXMhISE="  # base64 of 32 bytes; dev only
MIN_SECRET_LENGTH = 32


class SettingsError(Exception):
    """A setting is missing or unsafe; the message names the variable in one line."""


class HelpDesk(msgspec.Struct, frozen=True, kw_only=True):
    """Who helps applicants, as the Contact and Help pages show it."""

    phone: str
    email: str
    hours: str

    @property
    def phone_uri(self) -> str:
        """The phone as a ``tel:`` link: its digits before any words (an extension), with a
        leading + kept."""
        number = re.split(r"[A-Za-z]", self.phone, maxsplit=1)[0]
        plus = "+" if number.lstrip().startswith("+") else ""
        return f"tel:{plus}{re.sub(r'[^0-9]', '', number)}"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///portal.db"
    secret_key: str = DEFAULT_SECRET_KEY
    data_key: str = DEFAULT_DATA_KEY
    smtp_url: str = "smtp://127.0.0.1:1025"
    mail_from: str = "IACS Registration <no-reply@iacs.localhost>"
    # localhost, not 127.0.0.1: a passkey's relying-party ID is this URL's host, and an IP address
    # cannot be one (http://localhost is a secure context, so passkeys work in make run).
    base_url: str = "http://localhost:8000"
    catalog_file: str = ""
    db_pool_size: int = 10  # 0: no pool, a connection per query
    rate_limit_per_minute: int = 30  # POSTs a minute per client address to login, codes, recovery
    # Requests a minute per client address to the single sign-on token and revocation endpoints
    # (an application's server calls them for all its users, so the limit is higher).
    token_rate_limit_per_minute: int = 600
    trusted_proxies: str = ""  # addresses/networks whose X-Forwarded-For is believed; empty: none
    redis_url: str = ""  # where the workers share rate-limit counts; empty: each worker's memory
    mail_worker_inline: bool = False  # deliver mail from inside the web process (make run)
    # A message the SMTP server did not take is tried again after this many seconds, doubling
    # after each failure up to the second figure (seconds): SMTP down loses nothing.
    mail_retry_seconds: int = 30
    mail_retry_max_seconds: int = 3600
    # Who must sign in with a second factor: everyone, approvers and holders of roles the catalog
    # marks mfa = true (and accounts the help desk reset), or nobody.
    mfa_required: Literal["all", "approvers-and-marked", "off"] = "approvers-and-marked"
    # The help desk people are sent to (Contact, Help): set once here, shown wherever it is needed.
    # The defaults are placeholders (555-01xx numbers are reserved for fiction): set the real ones.
    help_desk_phone: str = "1-410-555-0100"
    help_desk_email: str = "iacs-help@iacs.localhost"
    help_desk_hours: str = "Monday to Friday, 8am to 8pm ET, except federal holidays"
    # Log lines as text (make run) or one JSON object per line (production, for a log shipper).
    log_format: Literal["json", "text"] = "text"
    # Client addresses/networks /metrics answers; any other gets 404.
    metrics_allow: str = "127.0.0.1/32,::1"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def help_desk(self) -> HelpDesk:
        return HelpDesk(phone=self.help_desk_phone, email=self.help_desk_email, hours=self.help_desk_hours)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    def check(self) -> Settings:
        """Refuse a malformed data key, and unsafe production settings; return self so calls chain."""
        from portal.crypto import DataKeyError, FieldCipher
        from portal.edge import parse_networks

        try:
            FieldCipher(self.data_key)
        except DataKeyError as exc:
            raise SettingsError(f"{exc} (comma-separated keys for rotation)") from None
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise SettingsError(f"PORTAL_TRUSTED_PROXIES: {exc}") from None
        try:
            parse_networks(self.metrics_allow)
        except ValueError as exc:
            raise SettingsError(f"PORTAL_METRICS_ALLOW: {exc}") from None
        if not 1 <= self.mail_retry_seconds <= self.mail_retry_max_seconds:
            raise SettingsError(
                "PORTAL_MAIL_RETRY_SECONDS must be at least 1 and at most PORTAL_MAIL_RETRY_MAX_SECONDS"
            )
        if not self.production:
            return self
        for var, value, default in (
            ("PORTAL_SECRET_KEY", self.secret_key, DEFAULT_SECRET_KEY),
            ("PORTAL_DATA_KEY", self.data_key, DEFAULT_DATA_KEY),
        ):
            if not value or value == default:
                raise SettingsError(f"{var} must be set to a secret value in production")
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise SettingsError(f"PORTAL_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters in production")
        if not self.base_url.startswith("https://"):
            raise SettingsError("PORTAL_BASE_URL must start with https:// in production")
        return self


# Environment variable -> field. Every setting the operator may change is listed here.
ENV_VARS: dict[str, str] = {
    "PORTAL_ENV": "env",
    "PORTAL_DATABASE_URL": "database_url",
    "PORTAL_SECRET_KEY": "secret_key",
    "PORTAL_DATA_KEY": "data_key",
    "PORTAL_SMTP_URL": "smtp_url",
    "PORTAL_MAIL_FROM": "mail_from",
    "PORTAL_BASE_URL": "base_url",
    "PORTAL_CATALOG_FILE": "catalog_file",
    "PORTAL_DB_POOL_SIZE": "db_pool_size",
    "PORTAL_MAIL_WORKER_INLINE": "mail_worker_inline",
    "PORTAL_MAIL_RETRY_SECONDS": "mail_retry_seconds",
    "PORTAL_MAIL_RETRY_MAX_SECONDS": "mail_retry_max_seconds",
    "PORTAL_RATE_LIMIT": "rate_limit_per_minute",
    "PORTAL_TOKEN_RATE_LIMIT": "token_rate_limit_per_minute",
    "PORTAL_MFA_REQUIRED": "mfa_required",
    "PORTAL_REDIS_URL": "redis_url",
    "PORTAL_TRUSTED_PROXIES": "trusted_proxies",
    "PORTAL_HELP_DESK_PHONE": "help_desk_phone",
    "PORTAL_HELP_DESK_EMAIL": "help_desk_email",
    "PORTAL_HELP_DESK_HOURS": "help_desk_hours",
    "PORTAL_LOG_FORMAT": "log_format",
    "PORTAL_METRICS_ALLOW": "metrics_allow",
}


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment; unset or empty variables keep their defaults."""
    environ = os.environ if environ is None else environ
    raw = {field: environ[var] for var, field in ENV_VARS.items() if environ.get(var)}
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        field = str(exc).rsplit("$.", 1)[-1].rstrip("`")
        var = next((v for v, f in ENV_VARS.items() if f == field), "a PORTAL_* variable")
        raise SettingsError(f"{var} is invalid: {exc}") from None
    return settings.check()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_env()
