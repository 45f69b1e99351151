"""Per-address caps on the emails anyone can cause: however many drafts, browsers or client
addresses ask, one address gets at most ``PER_HOUR`` emails of a kind an hour and ``PER_DAY``
a day. The count is the outbox itself (every email is a row there, written in the same
transaction as the change that causes it), read under a lock on the address so that two
simultaneous requests cannot both take the last place."""

from __future__ import annotations

from datetime import datetime, timedelta

from portal.mail.outbox import queued_to
from portal.models.db import serialize_on

PER_HOUR = 5
PER_DAY = 10
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Emails an anonymous person can ask for, capped together by what they are.
CODES = ("verification_code",)
RECOVERY = ("password_reset", "user_id_link")
STATUS = ("tracking_number",)


def next_allowed(queued: list[datetime], at: datetime) -> datetime | None:
    """None when one more email may go now, given when the earlier ones were ``queued`` (the
    last day's, oldest first); otherwise the moment the next one may."""
    day = [t for t in queued if t > at - DAY]
    hour = [t for t in day if t > at - HOUR]
    waits = []
    if len(day) >= PER_DAY:
        waits.append(day[len(day) - PER_DAY] + DAY)
    if len(hour) >= PER_HOUR:
        waits.append(hour[len(hour) - PER_HOUR] + HOUR)
    return max(waits) if waits else None


async def may_email(address: str, kinds: tuple[str, ...], at: datetime) -> datetime | None:
    """Inside the transaction that would queue the email: None when it may be queued; else
    when it may. Holds a lock on ``address`` until the transaction ends."""
    await serialize_on(f"mail-cap:{address}")
    return next_allowed(await queued_to(address, kinds, at - DAY), at)
