"""portal/assets.py, the vendored htmx and the one JavaScript bundle."""

import hashlib

from portal.assets import BUNDLES, HTMX, STATIC_DIR, AssetManifest, bundle

# From the npm registry: `npm view htmx.org@2.0.11 dist.integrity` covers the tarball; this is
# the sha256 of package/dist/htmx.min.js inside it, checked when the file was vendored.
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_vendored_htmx_is_the_pinned_release():
    body = (STATIC_DIR / HTMX).read_bytes()
    assert hashlib.sha256(body).hexdigest() == HTMX_SHA256
    assert b'version:"2.0.11"' in body
    assert (STATIC_DIR / "vendor" / "htmx-2.0.11.LICENSE.txt").read_text().startswith("Zero-Clause BSD")


def test_hashed_names_follow_the_content(tmp_path):
    (tmp_path / "a.css").write_text("body{}")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "x.min.js").write_text("1")
    manifest = AssetManifest(tmp_path, bundles={})
    digest = hashlib.sha256(b"body{}").hexdigest()[:12]
    assert manifest.url("a.css") == f"/static/a.{digest}.css"
    assert manifest.url("js/x.min.js").startswith("/static/js/x.min.") and manifest.url("js/x.min.js").endswith(".js")
    assert manifest.lookup(f"a.{digest}.css").body == b"body{}"
    assert manifest.lookup("a.css") is None
    (tmp_path / "a.css").write_text("body{color:red}")
    assert AssetManifest(tmp_path, bundles={}).url("a.css") != manifest.url("a.css")


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
    manifest = AssetManifest(tmp_path, bundles={})
    asset = manifest.lookup(manifest.url("big.css").rsplit("/", 1)[1])
    assert asset.encoded("gzip, br")[1] == "br"
    assert asset.encoded("br;q=0, gzip")[1] == "gzip"
    assert asset.encoded("br;q=0, gzip;q=0") == (asset.body, None)


def test_the_bundle_is_its_parts_in_order_with_htmx_first_under_its_licence_notice():
    asset = AssetManifest().by_name["portal.js"]
    body = asset.body.decode()
    assert BUNDLES["portal.js"][0] == HTMX
    assert body.startswith("/*! htmx 2.0.11 | https://htmx.org | Zero-Clause BSD licence")
    at = 0
    for part in BUNDLES["portal.js"]:
        source = (STATIC_DIR / part).read_text().rstrip()
        found = body.index(source, at)  # each part whole, after the one before it
        assert body[found + len(source)] == ";"  # ended, so the next part cannot run into it
        at = found + len(source)
    assert asset.media_type == "text/javascript"
    assert asset.brotli is not None and asset.gzip is not None  # compressed once, at start-up


def test_the_bundle_is_named_by_its_content_and_its_parts_are_not_published(tmp_path):
    (tmp_path / "lib.js").write_text("var lib = 1")
    (tmp_path / "own.js").write_text("lib++")
    (tmp_path / "other.css").write_text("p{}")
    manifest = AssetManifest(tmp_path, bundles={"all.js": ("lib.js", "own.js")})
    assert sorted(manifest.by_name) == ["all.js", "other.css"]
    assert manifest.by_name["all.js"].body == bundle(tmp_path, ("lib.js", "own.js"))
    assert manifest.by_name["all.js"].body == b"/* lib.js */\nvar lib = 1;\n/* own.js */\nlib++;\n"
    first = manifest.url("all.js")
    (tmp_path / "own.js").write_text("lib--")  # any part changed: a new name
    assert AssetManifest(tmp_path, bundles={"all.js": ("lib.js", "own.js")}).url("all.js") != first
