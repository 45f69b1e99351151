"""The portal's tables. Names are the words of the IACS help page."""

from piccolo.columns import (
    JSONB,
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.models.rows import FactorKind, LinkPurpose, RequestStatus


class CatalogField(Table, tablename="catalog_field"):
    """An application-specific field a role may require (TIN, NPI, ...), with its format."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    key = Varchar(length=40, unique=True, required=True)
    label = Varchar(length=100, required=True)
    pattern = Varchar(length=200, required=True)
    example = Varchar(length=100, required=True)
    hint = Text(default="")
    format = Varchar(length=20, default="text")  # a name in portal/formats.py: text, code, tin, npi
    sensitive = Boolean(default=False)  # encrypted at rest and masked on screen (TIN)


class Application(Table, tablename="application"):
    """A CMS application people register for."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    code = Varchar(length=20, unique=True, required=True)
    name = Varchar(length=150, required=True)
    description = Text(default="")
    requires_ssn = Boolean(default=False)
    active = Boolean(default=True, index=True)
    position = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())


class Role(Table, tablename="role"):
    """A role within an application: the fields it needs and how it is approved."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    application = ForeignKey(references=Application, required=True, index=True)
    code = Varchar(length=40, required=True)
    name = Varchar(length=150, required=True)
    description = Text(default="")
    fields = JSONB(default=[])  # list of CatalogField keys, in display order
    approval_levels = Integer(default=1)
    review_days = Integer(default=30)
    mfa = Boolean(default=False)  # its holders see PHI/PII: a second factor is required
    active = Boolean(default=True)
    position = Integer(default=0)


class RegistrationDraft(Table, tablename="registration_draft"):
    """A registration in progress. The browser holds only a signed cookie naming ``token``.
    Each accepted step's values are stored here at once; SSN and TIN only encrypted."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    token = Varchar(length=64, unique=True, required=True)
    application = ForeignKey(references=Application, required=True)
    terms_version = Varchar(length=40, required=True)
    terms_accepted_at = Timestamptz(required=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), index=True)
    # Step 1: personal information (ssn encrypted inside), and the email address.
    personal = JSONB(null=True, default=None)
    email = Varchar(length=254, null=True, default=None)
    email_verified_at = Timestamptz(null=True, default=None)
    # Step 2: the current verification code (hashed) and the hour's sends and wrong tries.
    code_hash = Varchar(length=128, null=True, default=None)
    code_expires_at = Timestamptz(null=True, default=None)
    code_voided = Boolean(default=False)
    code_failures = Integer(default=0)  # wrong tries on the current code
    code_sends = JSONB(default=[])  # the sends of the last hour: {"at": ISO time, "digest": the code's}
    code_wrong_tries = JSONB(default=[])  # ISO times of wrong tries in the last hour
    # Step 3: contact information, role and the role's fields (TIN encrypted inside).
    contact = JSONB(null=True, default=None)
    role = ForeignKey(references=Role, null=True, default=None)
    # Step 4: authentication questions, answers only as argon2id hashes.
    questions = JSONB(null=True, default=None)
    # The request this draft became (set in the submit transaction).
    tracking_number = Varchar(length=20, null=True, default=None)


class AccessRequest(Table, tablename="access_request"):
    """A submitted registration waiting for (or past) approval."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    tracking_number = Varchar(length=20, unique=True, required=True)
    draft_token = Varchar(length=64, unique=True, required=True)  # one request per draft
    application = ForeignKey(references=Application, required=True, index=True)
    role = ForeignKey(references=Role, required=True, index=True)
    email = Varchar(length=254, required=True, index=True)
    first_name = Varchar(length=100, required=True)
    middle_initial = Varchar(length=1, default="")
    last_name = Varchar(length=100, required=True)
    personal = JSONB(default={})  # date of birth, encrypted SSN
    contact = JSONB(default={})  # organization, address, phone, role fields (TIN encrypted)
    questions = JSONB(default=[])  # [{"question": key, "answer_hash": argon2id}]
    terms_version = Varchar(length=40, required=True)
    terms_accepted_at = Timestamptz(required=True)
    status = Varchar(length=20, default=RequestStatus.PENDING, choices=RequestStatus, index=True)
    level = Integer(default=1)  # the approval level it waits for
    levels = Integer(default=1)
    submitted_at = Timestamptz(default=TimestamptzNow(), index=True)
    due_at = Timestamptz(required=True, index=True)
    decided_at = Timestamptz(null=True, default=None)
    reason = Text(default="")
    decided_by = Varchar(length=12, default="")  # User ID of the final decision
    level1_by = Varchar(length=12, default="")  # who approved level 1 (not allowed at level 2)
    account_user_id = Varchar(length=12, default="", index=True)  # set for an existing holder's request
    organization = Varchar(length=100, default="")  # copied from contact, for sorting the approval table


class OutboxMessage(Table, tablename="outbox_message"):
    """An email, written in the same transaction as the change that causes it; a worker
    delivers it over SMTP with retries."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    kind = Varchar(length=40, required=True)
    to_address = Varchar(length=254, required=True)
    subject = Varchar(length=200, required=True)
    body = Text(required=True)
    message_id = Varchar(length=200, unique=True, required=True)
    created_at = Timestamptz(default=TimestamptzNow())
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow(), index=True)
    claimed_until = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None, index=True)
    last_error = Varchar(length=300, default="")
    request_id = Varchar(length=64, default="")  # the request that queued it, for the logs


class Account(Table, tablename="account"):
    """An IACS account: created when a request is finally approved, or by the approver CLI."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    user_id = Varchar(length=12, unique=True, required=True)
    first_name = Varchar(length=100, required=True)
    last_name = Varchar(length=100, required=True)
    email = Varchar(length=254, required=True, index=True)
    password_hash = Varchar(length=200, required=True)
    password_initial = Boolean(default=True)  # must be changed at the next login
    password_expires_at = Timestamptz(null=True, default=None)  # only for an initial password
    password_changed_at = Timestamptz(null=True, default=None)
    questions = JSONB(default=[])  # authentication questions from registration (hashed answers)
    created_at = Timestamptz(default=TimestamptzNow())
    # The second step of sign-in: wrong codes in a row (reserved before each check, like the
    # lockout) and its own 15-minute lock; and re-enrolment forced by a help-desk reset.
    mfa_failures = Integer(default=0)
    mfa_locked_until = Timestamptz(null=True, default=None)
    mfa_enrol_required = Boolean(default=False)
    # Single sign-on's ``sub``: random, given the first time the account signs in to an
    # application, and never changed (not the User ID, which people type and see).
    subject = Varchar(length=36, null=True, default=None, unique=True)


class LoginThrottle(Table, tablename="login_throttle"):
    """The lockout's count for one typed User ID (real or not: the same write either way, so
    a refusal's time says nothing), keyed by a keyed hash of it, never the text typed. A check
    counts as a failure from before its hash until it succeeds."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    key = Varchar(length=64, unique=True, required=True)
    failures = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow(), index=True)


class AccessGrant(Table, tablename="access_grant"):
    """An application and role an account may use."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    account = ForeignKey(references=Account, required=True, index=True)
    application = ForeignKey(references=Application, required=True)
    role = ForeignKey(references=Role, required=True)
    request = ForeignKey(references=AccessRequest, null=True, default=None)
    granted_at = Timestamptz(default=TimestamptzNow())


class ApproverRight(Table, tablename="approver_right"):
    """The requests an approver may decide: an application (null: every one) at a level."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    account = ForeignKey(references=Account, required=True, index=True)
    application = ForeignKey(references=Application, null=True, default=None)
    level = Integer(required=True)


class UserSession(Table, tablename="user_session"):
    """A signed-in browser. Only a SHA-256 of the random session id is stored."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    token_hash = Varchar(length=64, unique=True, required=True)
    account = ForeignKey(references=Account, required=True, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    # How it was signed in (RFC 8176 values, space-separated: "pwd", "pwd otp", "pwd hwk"), when a
    # second factor was last used in it (step-up), and whether it may reach nothing but enrolment
    # until one is (decided when it began).
    amr = Varchar(length=40, default="pwd")
    mfa_at = Timestamptz(null=True, default=None)
    mfa_required = Boolean(default=False)


class PasswordReset(Table, tablename="password_reset"):
    """A single-use recovery link: SHA-256 of its token, 30 minutes, used once, for one purpose
    (``password``: set a new one; ``user-id``: show the User ID)."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    token_hash = Varchar(length=64, unique=True, required=True)
    purpose = Varchar(length=20, default=LinkPurpose.PASSWORD, choices=LinkPurpose)
    account = ForeignKey(references=Account, required=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(required=True)
    used_at = Timestamptz(null=True, default=None)


class AuditEvent(Table, tablename="audit_event"):
    """Append-only (database triggers refuse UPDATE and DELETE): who did what, when, from where.
    Never a password, answer, code, SSN or TIN."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    at = Timestamptz(default=TimestamptzNow(), index=True)
    actor = Varchar(length=100, default="")  # User ID, "system" or "anonymous"
    action = Varchar(length=60, required=True, index=True)
    subject = Varchar(length=100, default="", index=True)  # User ID or tracking number
    detail = JSONB(default={})
    ip = Varchar(length=64, default="")


class SecondFactor(Table, tablename="second_factor"):
    """A second factor of an account: an authenticator app (its TOTP secret encrypted with
    PORTAL_DATA_KEY) or a passkey / security key (its WebAuthn credential's public key)."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    account = ForeignKey(references=Account, required=True, index=True)
    kind = Varchar(length=20, required=True, choices=FactorKind)
    name = Varchar(length=60, default="")
    secret = Text(default="")  # TOTP: the encrypted base32 secret
    credential_id = Varchar(length=1400, null=True, default=None, unique=True)  # WebAuthn: base64url
    public_key = Text(default="")  # WebAuthn: base64url of the COSE key
    sign_count = Integer(default=0)  # WebAuthn: the authenticator's counter, checked to go up
    device = Varchar(length=10, default="")  # its amr value: otp, hwk (one device) or swk (synced)
    last_step = Integer(default=0)  # TOTP: the last 30-second step accepted (a code works once)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)


class RecoveryCode(Table, tablename="recovery_code"):
    """One of an account's ten single-use recovery codes, only as a SHA-256 (80 random bits)."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    account = ForeignKey(references=Account, required=True, index=True)
    code_hash = Varchar(length=64, required=True)
    created_at = Timestamptz(default=TimestamptzNow())
    used_at = Timestamptz(null=True, default=None)


class MfaChallenge(Table, tablename="mfa_challenge"):
    """A sign-in halfway (the password was right; the second step is to come), or a passkey
    ceremony in progress: the SHA-256 of its random token, its account, what it is for and the
    WebAuthn challenge. Ten minutes; deleted when used."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    token_hash = Varchar(length=64, unique=True, required=True)
    account = ForeignKey(references=Account, required=True, index=True)
    purpose = Varchar(length=20, required=True)
    challenge = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(required=True, index=True)


class OidcClient(Table, tablename="oidc_client"):
    """An application's OpenID Connect client, from the catalog (``catalog load``). A
    confidential client's secret is stored only as its SHA-256 (256 random bits: ``oidc secret``
    makes one and prints it once)."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    application = ForeignKey(references=Application, required=True, unique=True)
    client_id = Varchar(length=40, unique=True, required=True)
    public = Boolean(default=False)
    redirect_uris = JSONB(default=[])
    post_logout_redirect_uris = JSONB(default=[])
    login_url = Varchar(length=500, default="")
    offline_access = Boolean(default=False)
    secret_hash = Varchar(length=64, default="")
    secret_set_at = Timestamptz(null=True, default=None)
    active = Boolean(default=True)


class SigningKey(Table, tablename="signing_key"):
    """A key that signs ID tokens: its private JWK encrypted with PORTAL_DATA_KEY, its public
    JWK as published. ``next`` is published before it signs; ``current`` signs; ``retired`` is
    still published until the tokens it signed have expired."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    kid = Varchar(length=100, unique=True, required=True)
    alg = Varchar(length=10, default="ES256")
    private_jwk = Text(required=True)
    public_jwk = JSONB(default={})
    state = Varchar(length=10, required=True, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    retired_at = Timestamptz(null=True, default=None)


class OidcCode(Table, tablename="oidc_code"):
    """An authorization code (only its SHA-256 is kept): bound to its client, redirect URI and
    PKCE challenge, valid 60 seconds, used once. ``used_at`` stays, so a second use is seen
    and revokes the tokens the first one got."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    code_hash = Varchar(length=64, unique=True, required=True)
    client = ForeignKey(references=OidcClient, required=True, index=True)
    account = ForeignKey(references=Account, required=True, index=True)
    redirect_uri = Varchar(length=500, required=True)
    scope = Varchar(length=200, default="")
    nonce = Varchar(length=255, default="")
    code_challenge = Varchar(length=128, required=True)
    auth_time = Timestamptz(required=True)
    acr = Varchar(length=60, default="")
    amr = JSONB(default=[])
    expires_at = Timestamptz(required=True, index=True)
    used_at = Timestamptz(null=True, default=None)


class OidcToken(Table, tablename="oidc_token"):
    """An access token (and, for a client allowed ``offline_access``, a refresh token): only
    their SHA-256 are kept. Revoked by the revocation endpoint, a reused code, or refresh."""

    id = Serial(primary_key=True)  # what Piccolo adds by itself, named so the type checker sees it

    access_hash = Varchar(length=64, unique=True, required=True)
    refresh_hash = Varchar(length=64, null=True, default=None, unique=True)
    client = ForeignKey(references=OidcClient, required=True, index=True)
    account = ForeignKey(references=Account, required=True, index=True)
    code = ForeignKey(references=OidcCode, null=True, default=None, index=True)
    scope = Varchar(length=200, default="")
    auth_time = Timestamptz(required=True)
    acr = Varchar(length=60, default="")
    amr = JSONB(default=[])
    issued_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(required=True, index=True)
    refresh_expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


# Every table, in the order their foreign keys allow: Piccolo's app (models/piccolo_app.py) and
# the binding to an engine (models/db.py) both read this list.
TABLES: tuple[type[Table], ...] = (
    CatalogField,
    Application,
    Role,
    RegistrationDraft,
    AccessRequest,
    OutboxMessage,
    Account,
    LoginThrottle,
    AccessGrant,
    ApproverRight,
    UserSession,
    PasswordReset,
    AuditEvent,
    SecondFactor,
    RecoveryCode,
    MfaChallenge,
    OidcClient,
    SigningKey,
    OidcCode,
    OidcToken,
)
