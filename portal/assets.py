"""Static assets under content-hashed names, served with a year-long immutable cache.

At start-up every file under ``static/`` is read once; ``portal.css`` is published as
``portal.<sha256[:12]>.css``. Templates ask for ``asset('portal.css')`` and get the hashed URL,
so a changed file always has a new name and an unchanged one is never fetched twice.

The JavaScript is one bundle, ``portal.js``, joined here at start-up from the vendored htmx and
the portal's own scripts (``BUNDLES``): every page loads it with one deferred script tag, so it is
fetched once, on the first page, and no later page waits for another script. Its parts are not
published on their own.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path

import brotli
import msgspec

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
URL_PREFIX = "/static/"
HTMX = "vendor/htmx-2.0.11.min.js"
# Each bundle's parts, in the order they run: htmx first, so it has started (on
# DOMContentLoaded, before the portal's listeners) when the portal's scripts look at the page.
BUNDLES: dict[str, tuple[str, ...]] = {
    "portal.js": (HTMX, "forms.js", "countdown.js", "session.js", "approvals.js", "passkey.js"),
}
# The licence notice goes with the code (``/*!`` survives minifiers).
NOTICES = {HTMX: "/*! htmx 2.0.11 | https://htmx.org | Zero-Clause BSD licence: vendor/htmx-2.0.11.LICENSE.txt */"}


class Asset(msgspec.Struct, frozen=True):
    name: str  # logical name, e.g. "portal.css"
    hashed_name: str  # e.g. "portal.3f2a9c1b7d0e.css"
    body: bytes
    media_type: str
    etag: str
    brotli: bytes | None = None  # compressed once, at the highest setting, at start-up
    gzip: bytes | None = None

    def encoded(self, accept_encoding: str) -> tuple[bytes, str | None]:
        """The smallest body the client accepts, and its Content-Encoding."""
        accepted = accepted_encodings(accept_encoding)
        if self.brotli is not None and "br" in accepted:
            return self.brotli, "br"
        if self.gzip is not None and "gzip" in accepted:
            return self.gzip, "gzip"
        return self.body, None


def accepted_encodings(header: str) -> set[str]:
    """The codings an Accept-Encoding header allows (RFC 9110 §12.5.3): listed ones, or all
    under ``*``, except any given ``q=0``."""
    allowed: set[str] = set()
    refused: set[str] = set()
    star = False
    for item in header.lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding == "*":
            star = q > 0
        elif coding:
            (allowed if q > 0 else refused).add(coding)
    if star:
        allowed |= {"br", "gzip"} - refused
    return allowed


def _hashed(name: str, digest: str) -> str:
    path = Path(name)
    suffixes = "".join(path.suffixes[-1:])
    stem = name[: len(name) - len(suffixes)] if suffixes else name
    return f"{stem}.{digest}{suffixes}"


def bundle(directory: Path, parts: Sequence[str]) -> bytes:
    """The parts joined, each after its licence notice (if any) and on lines of its own; a part
    ends with ``;`` so a script without a final semicolon cannot run into the next one."""
    pieces: list[str] = []
    for part in parts:
        if part in NOTICES:
            pieces.append(NOTICES[part])
        pieces.append(f"/* {part} */")
        pieces.append((directory / part).read_text(encoding="utf-8").rstrip() + ";")
    return ("\n".join(pieces) + "\n").encode()


def _asset(name: str, body: bytes) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:12]
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.endswith("javascript") and not media_type.startswith("text/"):
        media_type += "; charset=utf-8"  # Litestar adds the charset to text/* itself
    compressible = media_type.startswith("text/") or "javascript" in media_type or "svg" in media_type
    return Asset(
        name,
        _hashed(name, digest),
        body,
        media_type,
        f'"{digest}"',
        brotli=brotli.compress(body, quality=11) if compressible and len(body) > 500 else None,
        gzip=gzip.compress(body, 9, mtime=0) if compressible and len(body) > 500 else None,
    )


class AssetManifest:
    def __init__(self, directory: Path = STATIC_DIR, bundles: Mapping[str, Sequence[str]] = BUNDLES) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_hashed: dict[str, Asset] = {}
        in_bundles = {part for parts in bundles.values() for part in parts}
        assets = [_asset(name, bundle(directory, parts)) for name, parts in bundles.items()]
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            name = path.relative_to(directory).as_posix()
            if name in in_bundles or name in bundles:
                continue  # served only as part of its bundle
            assets.append(_asset(name, path.read_bytes()))
        for asset in assets:
            self.by_name[asset.name] = asset
            self.by_hashed[asset.hashed_name] = asset

    def url(self, name: str) -> str:
        """The public URL of a static file; an unknown name is a programming error."""
        return URL_PREFIX + self.by_name[name].hashed_name

    def lookup(self, hashed_name: str) -> Asset | None:
        return self.by_hashed.get(hashed_name)
