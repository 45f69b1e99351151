"""What keeps a worker's memory flat (bench/memory.py measures it): requests without reference
cycles of their own, and the start-up objects frozen out of the garbage collector's count."""

from __future__ import annotations

import gc

from portal.web import PortalRequest
from tests.support import url


async def test_the_app_makes_requests_without_the_htmx_reference_cycle(app):
    assert app.request_class is PortalRequest


async def test_a_started_worker_has_frozen_its_start_up_objects(client):
    """The client has run the app's start-up (its lifespan)."""
    assert (await client.get(url(client, "home:getting-ready"))).status_code == 200
    assert gc.get_freeze_count() > 0
