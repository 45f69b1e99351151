from litestar import Controller, get
from litestar.response import Response

from portal.models.db import ping


class HealthController(Controller):
    include_in_schema = False

    @get("/healthz", name="ops:health")
    async def health(self) -> Response[str]:
        """200 only when the database answers; 503 otherwise (for load balancers)."""
        if await ping():
            return Response("ok", media_type="text/plain", headers={"Cache-Control": "no-store"})
        return Response(
            "database unavailable",
            status_code=503,
            media_type="text/plain",
            headers={"Cache-Control": "no-store"},
        )
