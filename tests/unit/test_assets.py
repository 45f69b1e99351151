"""portal/assets.py and the vendored htmx."""

import hashlib

from portal.assets import STATIC_DIR, AssetManifest

HTMX = STATIC_DIR / "vendor" / "htmx-2.0.11.min.js"
# From the npm registry: `npm view htmx.org@2.0.11 dist.integrity` covers the tarball; this is
# the sha256 of package/dist/htmx.min.js inside it, checked when the file was vendored.
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_vendored_htmx_is_the_pinned_release():
    body = HTMX.read_bytes()
    assert hashlib.sha256(body).hexdigest() == HTMX_SHA256
    assert b'version:"2.0.11"' in body
    assert (STATIC_DIR / "vendor" / "htmx-2.0.11.LICENSE.txt").read_text().startswith("Zero-Clause BSD")


def test_hashed_names_follow_the_content(tmp_path):
    (tmp_path / "a.css").write_text("body{}")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "x.min.js").write_text("1")
    manifest = AssetManifest(tmp_path)
    digest = hashlib.sha256(b"body{}").hexdigest()[:12]
    assert manifest.url("a.css") == f"/static/a.{digest}.css"
    assert manifest.url("js/x.min.js").startswith("/static/js/x.min.") and manifest.url("js/x.min.js").endswith(".js")
    assert manifest.lookup(f"a.{digest}.css").body == b"body{}"
    assert manifest.lookup("a.css") is None
    (tmp_path / "a.css").write_text("body{color:red}")
    assert AssetManifest(tmp_path).url("a.css") != manifest.url("a.css")
