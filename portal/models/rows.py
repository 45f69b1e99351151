"""What the queries return: one named, typed struct per kind of row, so nothing above the models
package reads a row by string key or guesses its shape. JSON columns have structs of their own
(``PersonalData``, ``ContactData``, ...). Enums name every stored status and purpose."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class FactorKind(enum.StrEnum):
    """A second factor's kind."""

    TOTP = "totp"  # an authenticator app (RFC 6238)
    WEBAUTHN = "webauthn"  # a passkey or security key


class ChallengePurpose(enum.StrEnum):
    """What a second-step challenge row is for."""

    LOGIN = "login"  # a halfway sign-in: the password was right, the second step is to come
    ENROL = "enrol"  # adding a passkey
    STEP_UP = "step-up"  # confirming it is still you before a decision


class LinkPurpose(enum.StrEnum):
    """What an emailed recovery link does."""

    PASSWORD = "password"  # set a new password
    USER_ID = "user-id"  # show the User ID


# ---- JSON columns ----------------------------------------------------------------------------


class CodeSend(msgspec.Struct, frozen=True):
    """One verification code sent in the last hour: when (ISO time) and the code's digest."""

    at: str
    digest: str


class QuestionHash(msgspec.Struct, frozen=True):
    """An authentication question chosen and its answer, only as an argon2id hash: how drafts,
    requests and accounts made before 2026-12-03 keep their answers (one hash each)."""

    question: str
    answer_hash: str


class AnswerSet(msgspec.Struct, frozen=True):
    """The authentication questions chosen, in order, and one argon2id hash over their
    normalised answers together (``hashing.answers_secret``): one hash per registration, and
    recovery asks every one of them."""

    keys: list[str]
    answers_hash: str


# What a draft, a request or an account holds: an AnswerSet, or per-answer hashes from before.
Questions = AnswerSet | list[QuestionHash]


def question_keys(questions: Questions | None) -> list[str]:
    """The keys of the questions chosen, in order."""
    if isinstance(questions, AnswerSet):
        return questions.keys
    return [x.question for x in questions or []]


class PersonalData(msgspec.Struct, frozen=True, kw_only=True):
    """Step 1 as stored on a draft (the SSN encrypted, "" when the application needs none)."""

    first_name: str = ""
    middle_initial: str = ""
    last_name: str = ""
    date_of_birth: str = ""
    ssn: str = ""


class RequestPersonal(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a request keeps of step 1 besides the name: date of birth, encrypted SSN (a holder's
    request keeps nothing: stored as {})."""

    date_of_birth: str = ""
    ssn: str = ""


class ContactData(msgspec.Struct, frozen=True, kw_only=True):
    """Step 3 as stored: contact details and the role's fields (sensitive ones encrypted)."""

    organization: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    phone: str = ""
    phone_ext: str = ""
    fields: dict[str, str] = {}


# ---- Catalog -----------------------------------------------------------------------------------


class Application(msgspec.Struct, frozen=True):
    id: int
    code: str
    name: str
    requires_ssn: bool


class RoleOption(msgspec.Struct, frozen=True):
    """An active role of an application, as registration offers it."""

    id: int
    code: str
    name: str
    description: str
    fields: list[str]
    review_days: int
    approval_levels: int


# ---- Registration --------------------------------------------------------------------------------


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A registration in progress with its application's and role's names."""

    id: int
    token: str
    application: int
    application_code: str
    application_name: str
    requires_ssn: bool
    terms_version: str
    terms_accepted_at: datetime
    updated_at: datetime
    personal: PersonalData | None = None
    email: str | None = None
    email_verified_at: datetime | None = None
    code_hash: str | None = None
    code_expires_at: datetime | None = None
    code_voided: bool = False
    code_failures: int = 0
    code_sends: list[CodeSend] = []
    code_wrong_tries: list[str] = []
    contact: ContactData | None = None
    role: int | None = None
    role_code: str | None = None
    role_name: str | None = None
    questions: Questions | None = None
    tracking_number: str | None = None


class DraftChange(msgspec.Struct, kw_only=True):
    """The columns a step writes to its draft; what is left UNSET is not touched."""

    personal: PersonalData | UnsetType = UNSET
    email: str | UnsetType = UNSET
    email_verified_at: datetime | UnsetType = UNSET
    code_hash: str | None | UnsetType = UNSET
    code_expires_at: datetime | UnsetType = UNSET
    code_voided: bool | UnsetType = UNSET
    code_failures: int | UnsetType = UNSET
    code_sends: list[CodeSend] | UnsetType = UNSET
    code_wrong_tries: list[str] | UnsetType = UNSET
    contact: ContactData | UnsetType = UNSET
    role: int | UnsetType = UNSET
    questions: Questions | UnsetType = UNSET
    tracking_number: str | UnsetType = UNSET


class Filing(msgspec.Struct, frozen=True, kw_only=True):
    """Who a request is for and what they gave: from a draft, or from an account holder."""

    draft_token: str  # "" for a holder's request, which has no draft
    application: int
    email: str
    first_name: str
    middle_initial: str
    last_name: str
    personal: RequestPersonal
    contact: ContactData
    questions: Questions
    terms_version: str
    terms_accepted_at: datetime
    account_user_id: str = ""


class NewRequest(Filing, frozen=True, kw_only=True):
    """An access request as it is filed: the filing, its tracking number, role and dates."""

    tracking_number: str
    role: int
    levels: int
    submitted_at: datetime
    due_at: datetime
    organization: str


class StatusView(msgspec.Struct, frozen=True):
    """What Check registration status shows."""

    tracking_number: str
    status: RequestStatus
    level: int
    levels: int
    submitted_at: datetime
    due_at: datetime
    decided_at: datetime | None
    reason: str
    application_name: str
    role_name: str


# ---- Approvals ------------------------------------------------------------------------------------


class QueueRow(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the approval table."""

    id: int
    application: int
    tracking_number: str
    first_name: str
    last_name: str
    organization: str
    application_code: str
    application_name: str
    role_code: str
    role_name: str
    submitted_at: datetime
    due_at: datetime
    status: RequestStatus
    level: int
    levels: int
    decided_at: datetime | None
    decided_by: str
    level1_by: str
    reason: str


class RequestDetail(QueueRow, frozen=True, kw_only=True):
    """A whole request: the row and what only its details and its decision need."""

    role: int
    email: str
    middle_initial: str
    personal: RequestPersonal
    contact: ContactData
    questions: Questions
    account_user_id: str
    terms_version: str
    terms_accepted_at: datetime


class Right(msgspec.Struct, frozen=True):
    """An approver's right: an application (None: every one) at a level."""

    application: int | None
    level: int


class Person(msgspec.Struct, frozen=True):
    """An account to email about something (an approver)."""

    id: int
    user_id: str
    email: str
    first_name: str


# ---- Accounts -----------------------------------------------------------------------------------


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    user_id: str
    first_name: str
    last_name: str
    email: str
    password_hash: str
    password_initial: bool
    password_expires_at: datetime | None
    created_at: datetime
    questions: Questions = []
    mfa_failures: int = 0
    mfa_locked_until: datetime | None = None
    mfa_enrol_required: bool = False


class SignedIn(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in browser's session and the account it is signed in as."""

    session_id: int
    created_at: datetime
    last_seen_at: datetime
    account_id: int
    user_id: str
    first_name: str
    last_name: str
    email: str
    password_initial: bool
    password_expires_at: datetime | None
    ends_at: datetime  # the absolute end (12 hours after sign-in)
    expires_at: datetime  # when it lapses if idle
    amr: str = "pwd"  # how it was signed in, RFC 8176 values separated by spaces
    mfa_at: datetime | None = None  # when a second factor was last used in it
    mfa_required: bool = False  # nothing but enrolment until a second factor is used

    @property
    def second_factor(self) -> bool:
        """Whether a second factor was used in this session (at sign-in, enrolment or step-up)."""
        return self.mfa_at is not None


class Grant(msgspec.Struct, frozen=True):
    application_code: str
    application_name: str
    role_name: str
    granted_at: datetime


class Throttle(msgspec.Struct, frozen=True):
    """The lockout's count and lock for one typed User ID."""

    failures: int
    locked_until: datetime | None


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    actor: str
    action: str
    subject: str
    ip: str
    detail: dict[str, Any] = {}


# ---- Two-factor sign-in -------------------------------------------------------------------------


class Factor(msgspec.Struct, frozen=True, kw_only=True):
    """A second factor of an account (secrets stay encrypted: see portal.accounts.mfa)."""

    id: int
    kind: FactorKind
    name: str
    secret: str
    credential_id: str | None
    public_key: str
    sign_count: int
    device: str
    last_step: int
    created_at: datetime
    last_used_at: datetime | None


class Challenge(msgspec.Struct, frozen=True, kw_only=True):
    """A sign-in halfway, or a passkey ceremony in progress."""

    id: int
    account: int
    purpose: ChallengePurpose
    challenge: str
    created_at: datetime
    expires_at: datetime
