"""Security headers, caching and compression on every kind of response (portal/security.py)."""

import pytest

from portal.assets import AssetManifest
from tests.htmlcheck import h1, page
from tests.support import url


def path_of(client, route: str) -> str:
    """A route name's path; a literal path (an unknown page) as it is."""
    return url(client, route) if ":" in route else route


@pytest.mark.parametrize("route", ["home:getting-ready", "home:applications", "ops:health", "/no-such-page"])
async def test_security_headers_on_every_response(client, route):
    response = await client.get(path_of(client, route))
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    # Development mode: no HSTS (it would pin http://127.0.0.1 to https).
    assert "strict-transport-security" not in response.headers


async def test_production_sends_hsts_and_secure_cookies(database):
    import base64

    import msgspec

    from tests.integration.conftest import client_of

    production = msgspec.structs.replace(
        database,
        env="production",
        secret_key="x" * 40,
        data_key=base64.b64encode(b"k" * 32).decode(),
        base_url="https://iacs.example.gov",
    ).check()
    async with client_of(production) as client:
        for route in ("/no-such-page", "accounts:login", "home:getting-ready"):
            response = await client.get(path_of(client, route))
            hsts = response.headers["strict-transport-security"]
            assert int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000, hsts
            assert "includeSubDomains" in hsts
            assert "unsafe-inline" not in response.headers["content-security-policy"]
        cookie = response.headers["set-cookie"]
        assert "csrftoken=" in cookie and "Secure" in cookie and "HttpOnly" in cookie


async def test_pages_are_not_cached(client):
    response = await client.get(url(client, "home:getting-ready"))
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["vary"] == "HX-Request" or "HX-Request" in response.headers["vary"]


async def test_csrf_cookie_is_httponly_and_samesite(client):
    response = await client.get(url(client, "home:getting-ready"))
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("csrftoken=") and "httponly" in cookie and "samesite=lax" in cookie


@pytest.mark.parametrize("name", ["portal.css", "portal.js"])
async def test_static_files_have_hashed_names_and_immutable_caching(client, name):
    manifest = AssetManifest()
    url = manifest.url(name)
    assert url != f"/static/{name}" and manifest.by_name[name].etag.strip('"') in url
    response = await client.get(url)
    assert response.status_code == 200
    assert response.content == manifest.by_name[name].body
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = response.headers["etag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


async def test_static_file_under_its_plain_name_is_not_served(client):
    assert (await client.get("/static/portal.css")).status_code == 404
    assert (await client.get("/static/../pyproject.toml")).status_code == 404


@pytest.mark.parametrize("encoding", ["br", "gzip"])
async def test_html_is_compressed_when_the_client_accepts_it(client, encoding):
    response = await client.get(url(client, "home:getting-ready"), headers={"Accept-Encoding": encoding})
    assert response.headers["content-encoding"] == encoding
    assert h1(page(response)) == "Getting ready to register for an IACS User ID"  # httpx decoded it


async def test_html_is_plain_when_the_client_accepts_no_compression(client):
    response = await client.get(url(client, "home:getting-ready"), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers


async def test_the_script_bundle_is_served_compressed(client):
    url = AssetManifest().url("portal.js")
    response = await client.get(url, headers={"Accept-Encoding": "br"})
    assert response.headers["content-encoding"] == "br"
    assert int(response.headers["content-length"]) < 20_000
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"


def test_access_log_never_records_query_strings():
    import logging

    from portal.app import strip_query_strings

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/recover/reset?token=secret.token.value", "1.1", 200),
        None,
    )
    assert strip_query_strings(record) is True
    assert "secret" not in record.getMessage() and "/recover/reset" in record.getMessage()


@pytest.mark.parametrize("path", ["/", "/applications", "/register", "/login", "/status", "/healthz", "/no-such-page"])
async def test_head_answers_like_get_without_a_body(client, path):
    get = await client.get(path, headers={"Accept-Encoding": "identity"})
    head = await client.head(path, headers={"Accept-Encoding": "identity"})
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.content)
    assert head.headers["content-security-policy"] == get.headers["content-security-policy"]


async def test_head_on_a_static_file(client):
    url = AssetManifest().url("portal.css")
    head = await client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversized_body_gets_413_before_it_is_parsed(client, concurrent_client, chunked):
    from portal.app import MAX_BODY
    from portal.models.tables import AuditEvent

    web = concurrent_client if chunked else client  # httpx's own ASGI transport streams a body
    await web.get(url(web, "accounts:login"))
    before = await AuditEvent.count()
    body = ("user_id=ZZZZ994&password=" + "x" * MAX_BODY + "&_csrf_token=" + web.cookies["csrftoken"]).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if chunked:  # no Content-Length: refused as the bytes arrive

        async def stream():
            for i in range(0, len(body), 8192):
                yield body[i : i + 8192]

        r = await web.post(url(web, "accounts:login-submit"), content=stream(), headers=headers)
        assert "content-length" not in r.request.headers
    else:
        r = await web.post(url(web, "accounts:login-submit"), content=body, headers=headers)
    assert r.status_code == 413
    assert h1(page(r)) == "What you sent is too large"
    assert await AuditEvent.count() == before  # no login was tried


# ---- CSRF check on odd input (found by the generated-input tier, tests/fuzz) -------------------


async def test_a_csrf_token_beyond_ascii_or_as_a_file_is_a_403_not_a_500(client):
    await client.get(url(client, "status:form"))
    token = client.cookies["csrftoken"]
    odd = token[:-1] + "é"
    r = await client.post(
        url(client, "status:check"), headers=[(b"x-csrftoken", odd.encode())], data={"email": "a@example.gov"}
    )
    assert r.status_code == 403
    r = await client.post(url(client, "status:check"), data={"_csrf_token": odd, "email": "a@example.gov"})
    assert r.status_code == 403
    r = await client.post(url(client, "status:check"), files={"_csrf_token": ("t.txt", b"x" * 200)})
    assert r.status_code == 403
    r = await client.post(
        url(client, "status:check"), data={"_csrf_token": token, "tracking_number": "x", "email": "a@example.gov"}
    )
    assert r.status_code == 303  # the control: the real token still works (the form is sent back)


@pytest.mark.parametrize("token_in_header", [True, False])
async def test_a_multipart_body_that_is_not_utf8_is_a_400(client, token_in_header):
    await client.get(url(client, "status:form"))
    token = client.cookies["csrftoken"].encode()
    part = b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\n\xff\xfe\r\n'
    if not token_in_header:
        part += b'--b\r\nContent-Disposition: form-data; name="_csrf_token"\r\n\r\n' + token + b"\r\n"
    headers = {"content-type": "multipart/form-data; boundary=b"}
    if token_in_header:
        headers["x-csrftoken"] = token.decode()
    r = await client.post(url(client, "status:check"), headers=headers, content=part + b"--b--\r\n")
    assert r.status_code == 400
    assert h1(page(r)) == "Something in the request was not right"


async def test_a_csrf_cookie_that_is_not_ours_is_replaced_never_printed(client):
    """A tampered (or pre-key-change) CSRF cookie is ignored: the page carries a new token and
    sets it, so forms work again and the bad value is never printed into the page."""
    bad = "\u0085" * 64 + "<b>" + "0" * 61
    client.cookies.clear()
    r = await client.get(url(client, "status:form"), headers=[(b"cookie", f"csrftoken={bad}".encode())])
    assert r.status_code == 200
    fresh = r.cookies.get("csrftoken")
    assert fresh and fresh != bad
    assert "<b>" + "0" * 61 not in r.text and "\u0085" not in r.text  # nowhere on the page
    r = await client.post(
        url(client, "status:check"), data={"_csrf_token": fresh, "tracking_number": "x", "email": "a@example.gov"}
    )
    assert r.status_code == 303  # accepted (not a 403): the refused form is sent back to its page
