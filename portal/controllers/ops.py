"""Operations: liveness (/healthz), readiness (/readyz) and metrics (/metrics). No session
guard: load balancers and Prometheus have no session, and none is looked up."""

import ipaddress

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.response import Response

from portal import metrics
from portal.mail.outbox import backlog
from portal.models.db import ping
from portal.models.health import readiness
from portal.web import AnyRequest

NO_STORE = {"Cache-Control": "no-store"}


class HealthController(Controller):
    include_in_schema = False

    @get("/healthz", name="ops:health")
    async def health(self) -> Response[str]:
        """200 only when the database answers; 503 otherwise (for load balancers)."""
        if await ping():
            return Response("ok", media_type="text/plain", headers=NO_STORE)
        return Response("database unavailable", status_code=503, media_type="text/plain", headers=NO_STORE)

    @get("/readyz", name="ops:ready")
    async def ready(self, request: AnyRequest) -> Response[dict[str, object]]:
        """200 when the database answers, its migrations are current and Redis (if configured)
        answers; otherwise 503 naming the checks that failed."""
        state = await readiness(request.app.state.settings.redis_url)
        if state.ready:
            return Response({"status": "ready"}, headers=NO_STORE)
        return Response({"status": "not ready", "failed": list(state.failed)}, status_code=503, headers=NO_STORE)

    @get("/metrics", name="ops:metrics")
    async def metrics(self, request: AnyRequest) -> Response[bytes]:
        """Prometheus text format, to the addresses of PORTAL_METRICS_ALLOW only (404 to others,
        as if there were no such page)."""
        try:
            client = ipaddress.ip_address(request.client.host if request.client else "")
        except ValueError:
            raise NotFoundException() from None
        if not any(client in network for network in request.app.state.metrics_allow):
            raise NotFoundException()
        waiting = await backlog()
        body = metrics.exposition(outbox_depth=waiting.depth, outbox_oldest_age=waiting.oldest_age_seconds)
        return Response(body, media_type=metrics.CONTENT_TYPE, headers=NO_STORE)
