from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Response

from portal.assets import AssetManifest

IMMUTABLE = "public, max-age=31536000, immutable"


@get("/static/{name:path}", name="static", include_in_schema=False, sync_to_thread=False, opt={"precompressed": True})
def serve_asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    manifest: AssetManifest = request.app.state.assets
    asset = manifest.lookup(name.lstrip("/"))
    if asset is None:
        raise NotFoundException()
    headers = {"Cache-Control": IMMUTABLE, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    body, encoding = asset.encoded(request.headers.get("accept-encoding", ""))
    if encoding:
        headers["Content-Encoding"] = encoding
    return Response(body, media_type=asset.media_type, headers=headers)
