"""Expected outcomes that are not form errors, as exceptions of their own. The journeys raise
them; portal/controllers/errors.py turns each into its page, in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Something the person asked for cannot happen; nothing was changed."""


class DraftGone(DomainError):
    """The registration draft this browser names is unknown, or idle for more than 24 hours."""


class LinkSpent(DomainError):
    """A recovery link (of ``purpose``) that has expired, was used already, or was never ours."""

    def __init__(self, purpose: str) -> None:
        super().__init__(purpose)
        self.purpose = purpose


class NotAllowed(DomainError):
    """Not this person's to see or decide; answered exactly like something that does not exist."""


class NotYet(DomainError):
    """A step of a journey that cannot be shown yet (or any more): go to ``route`` instead."""

    def __init__(self, route: str) -> None:
        super().__init__(route)
        self.route = route
