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


def test_accept_encoding_honours_q_values():
    from portal.assets import accepted_encodings

    assert accepted_encodings("gzip, deflate, br, zstd") >= {"gzip", "br"}
    assert accepted_encodings("br;q=0, gzip;q=0.8") == {"gzip"}
    assert accepted_encodings("gzip;q=0") == set()
    assert accepted_encodings("*") == {"br", "gzip"}
    assert accepted_encodings("*;q=0.5, br;q=0") == {"gzip"}
    assert accepted_encodings("identity") == {"identity"}
    assert accepted_encodings("") == set()
    assert accepted_encodings("gzip;q=oops") == set()
    assert "br" not in accepted_encodings("gzip, brotli-ish")  # a name, not a substring


def test_an_asset_is_sent_in_the_smallest_coding_the_client_accepts(tmp_path):
    (tmp_path / "big.css").write_text("body{color:red}\n" * 200)
    asset = AssetManifest(tmp_path).lookup(AssetManifest(tmp_path).url("big.css").rsplit("/", 1)[1])
    assert asset.encoded("gzip, br")[1] == "br"
    assert asset.encoded("br;q=0, gzip")[1] == "gzip"
    assert asset.encoded("br;q=0, gzip;q=0") == (asset.body, None)
