"""Self-service recovery's signed values: the ticket that carries a person from the identify
step to the questions, and the emailed links. Each has its own salt and age; nothing here
knows about HTTP (the web layer gives the page address a link points to)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from portal.accounts.questions import MIN_QUESTIONS, QUESTIONS, SLOTS
from portal.accounts.service import RESET_LIFETIME, token_hash
from portal.crypto import DataKeyError, FieldCipher
from portal.models.rows import LinkPurpose
from portal.signing import Signed, signed

TICKET_SALT = "iacs.recovery-ticket.v2"  # v2: the ticket is encrypted (v1 carried the identifier in clear)
TICKET_AGE = 900  # the questions step: 15 minutes
# Each emailed link is signed with its own salt, so a link of one kind never opens the other.
LINK_SALTS = {LinkPurpose.PASSWORD: "iacs.password-reset.v1", LinkPurpose.USER_ID: "iacs.user-id-link.v1"}
LINK_AGE = int(RESET_LIFETIME.total_seconds())  # 30 minutes, as the stored link


class RecoveryTicket(msgspec.Struct, frozen=True):
    """What the questions page carries to the answers: the typed User ID and email, the
    journey, and the question keys asked."""

    u: str
    e: str
    w: LinkPurpose
    k: list[str]


class Tickets:
    """Recovery tickets: encrypted (AES-GCM with ``PORTAL_DATA_KEY``), so the typed User ID
    and email never travel in clear in the page, then signed and timed (15 minutes)."""

    PURPOSE = "recovery-ticket"

    def __init__(self, cipher: FieldCipher, secret_key: str) -> None:
        self._cipher = cipher
        self._signer: Signed = signed(secret_key, TICKET_SALT, TICKET_AGE, max_length=1200)

    def seal(self, ticket: RecoveryTicket) -> str:
        return self._signer.dumps(self._cipher.encrypt(msgspec.json.encode(ticket).decode(), self.PURPOSE))

    def open(self, token: str, what: LinkPurpose) -> RecoveryTicket | None:
        """The ticket, when ``token`` is one of ours for ``what``, recent and unaltered."""
        sealed = self._signer.loads(token)
        if sealed is None:
            return None
        try:
            ticket = msgspec.json.decode(self._cipher.decrypt(sealed, self.PURPOSE), type=RecoveryTicket)
        except (DataKeyError, msgspec.DecodeError):
            return None
        usable = ticket.w is what and MIN_QUESTIONS <= len(ticket.k) <= SLOTS and all(k in QUESTIONS for k in ticket.k)
        return ticket if usable else None


class LinkSigner:
    """The emailed links: ``page?token=<signed link id>``; the database keeps only a hash of the id."""

    def __init__(self, secret_key: str, what: LinkPurpose) -> None:
        self._signer: Signed = signed(secret_key, LINK_SALTS[what], LINK_AGE)

    def link_for(self, page: str) -> Callable[[str], str]:
        """What turns a link's secret id into the address emailed: ``page`` with the token."""
        return lambda link_id: f"{page}?token={self._signer.dumps(link_id)}"

    def link_hash(self, token: str) -> str | None:
        """The stored hash of the link's id, when ``token`` is a link of this kind signed in
        the last 30 minutes; None otherwise."""
        link_id = self._signer.loads(token)
        return token_hash(link_id) if link_id else None
