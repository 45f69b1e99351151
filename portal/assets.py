"""Static assets under content-hashed names, served with a year-long immutable cache.

At start-up every file under ``static/`` is read once; ``portal.css`` is published as
``portal.<sha256[:12]>.css``. Templates ask for ``asset('portal.css')`` and get the hashed URL,
so a changed file always has a new name and an unchanged one is never fetched twice.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from pathlib import Path

import brotli
import msgspec

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
URL_PREFIX = "/static/"


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


class AssetManifest:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_hashed: dict[str, Asset] = {}
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            name = path.relative_to(directory).as_posix()
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type.endswith("javascript"):
                media_type += "; charset=utf-8"
            compressible = media_type.startswith("text/") or "javascript" in media_type or "svg" in media_type
            asset = Asset(
                name,
                _hashed(name, digest),
                body,
                media_type,
                f'"{digest}"',
                brotli=brotli.compress(body, quality=11) if compressible and len(body) > 500 else None,
                gzip=gzip.compress(body, 9, mtime=0) if compressible and len(body) > 500 else None,
            )
            self.by_name[name] = asset
            self.by_hashed[asset.hashed_name] = asset

    def url(self, name: str) -> str:
        """The public URL of a static file; an unknown name is a programming error."""
        return URL_PREFIX + self.by_name[name].hashed_name

    def lookup(self, hashed_name: str) -> Asset | None:
        return self.by_hashed.get(hashed_name)
