"""The portal's own addresses that journeys put in emails, made by the web layer from route
names (so a renamed route cannot leave a stale address in a message)."""

from __future__ import annotations

import msgspec


class Links(msgspec.Struct, frozen=True, kw_only=True):
    login: str  # Log in
    approvals: str  # the approval table
    overdue: str  # the approval table, overdue requests only
    status: str  # Check registration status
