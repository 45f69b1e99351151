"""The demo relying party (portal/demo_rp.py): Debian's Apache with mod_auth_openidc, one
virtual host per demo application. Its configuration passes Apache's own check, it serves the
public logged-out page of each application, and it sends a visitor of an application's page
to the provider's authorization endpoint with PKCE (a stand-in discovery document here; the
end-to-end sign-in through the portal is a browser test)."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from portal import demo_rp
from portal.demo_rp import DemoRP, demo_clients
from tests.htmlcheck import check_html, h1, page, text, title
from tests.support import free_port

SECRETS = {"hpms": "hpms-secret", "marx": "marx-secret"}


def get(rp: DemoRP, host: str, path: str) -> http.client.HTTPResponse:
    """GET ``path`` at the virtual host ``host`` as a browser does (the Host header picks the
    host, so *.localhost need not resolve; mod_auth_openidc answers a request that does not
    accept HTML with 401 rather than a redirect)."""
    connection = http.client.HTTPConnection(rp.listen, rp.port, timeout=10)
    connection.request("GET", path, headers={"Host": f"{host}:{rp.port}", "Accept": "text/html"})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def virtual_hosts(conf: str) -> dict[str, dict[str, str]]:
    """ServerName -> {directive: its arguments} of each <VirtualHost> in ``conf``."""
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in conf.splitlines():
        words = line.strip().split(None, 1)
        if not words:
            continue
        if words[0].startswith("<VirtualHost"):
            current = {}
        elif words[0] == "</VirtualHost>":
            assert current is not None
            found[current["ServerName"]] = current
            current = None
        elif current is not None and not words[0].startswith("<"):
            current[words[0]] = words[1].strip('"') if len(words) > 1 else ""
    return found


class Discovery(BaseHTTPRequestHandler):
    """A provider that only answers discovery (enough for the redirect to authorize)."""

    issuer = ""

    def do_GET(self) -> None:
        if self.path != "/.well-known/openid-configuration":
            self.send_error(404)
            return
        issuer = self.issuer
        body = json.dumps(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/oidc/authorize",
                "token_endpoint": f"{issuer}/oidc/token",
                "userinfo_endpoint": f"{issuer}/oidc/userinfo",
                "jwks_uri": f"{issuer}/oidc/jwks",
                "end_session_endpoint": f"{issuer}/oidc/logout",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture
def provider():
    """A discovery document at http://localhost:PORT, served from a thread; its issuer URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Discovery)
    issuer = f"http://localhost:{server.server_address[1]}"
    handler = type("IssuerDiscovery", (Discovery,), {"issuer": issuer})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer
    server.shutdown()
    server.server_close()


@pytest.fixture
def rp(provider):
    """The demo relying party for HPMS and MARX on a free port, in a directory of its own; it is
    stopped and its directory removed afterwards."""
    made = DemoRP(None, free_port(), provider, demo_clients(SECRETS))
    yield made
    made.stop()
    assert not made.workdir.exists()


def test_apache_and_mod_auth_openidc_are_installed():
    assert demo_rp.available() is None


def test_the_configuration_has_one_virtual_host_per_client_and_passes_apache_s_check(rp):
    conf = rp.write_config().read_text(encoding="utf-8")
    rp.check_config()  # apache2 -t

    hosts = virtual_hosts(conf)
    assert sorted(hosts) == ["hpms.localhost", "marx.localhost"]
    for client in rp.clients:
        host = hosts[client.host]
        assert host["OIDCClientID"] == client.client_id
        assert host["OIDCClientSecret"] == SECRETS[client.client_id]
        assert host["OIDCRedirectURI"] == f"http://{client.host}:{rp.port}/redirect_uri"
        assert host["OIDCProviderMetadataURL"] == f"{rp.provider_url}/.well-known/openid-configuration"
        assert host["OIDCPKCEMethod"] == "S256"
        assert host["OIDCScope"] == "openid profile email"
        assert host["OIDCProviderTokenEndpointAuth"] == "client_secret_basic"
        assert host["OIDCPassClaimsAs"] == "environment"
    # Each application has a passphrase of its own; the secrets are readable by the owner only.
    assert hosts["hpms.localhost"]["OIDCCryptoPassphrase"] != hosts["marx.localhost"]["OIDCCryptoPassphrase"]
    assert rp.config_path.stat().st_mode & 0o077 == 0
    assert "hpms-secret" not in repr(rp.clients)


def test_the_logged_out_page_of_each_application_is_public(rp):
    rp.start()

    for client in rp.clients:
        response = get(rp, client.host, "/loggedout")
        assert response.status == 200
        check_html(response.body.decode())
        shown = page(response.body.decode())
        assert h1(shown) == f"You are logged out of {client.name}"
        assert text(shown, "a#login") == f"Sign in to {client.name} again"


def test_an_application_page_sends_the_visitor_to_the_provider_with_pkce(rp, provider):
    rp.start()
    client = rp.clients[0]

    response = get(rp, client.host, "/")

    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider}/oidc/authorize"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["client_id"] == client.client_id
    assert query["redirect_uri"] == rp.redirect_uri(client)
    assert query["response_type"] == "code"
    assert query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256
    assert query["state"] and query["nonce"]
    # The state cookie must come back over plain http: no Secure, no SameSite=None.
    (state_cookie,) = [c for c in response.headers.get_all("Set-Cookie") if c.startswith("mod_auth_openidc_state_")]
    flags = [part.strip().lower() for part in state_cookie.split(";")[1:]]
    assert "httponly" in flags
    assert "secure" not in flags
    assert "samesite=none" not in flags


def test_the_signed_in_page_lists_the_claims_escaped_and_links_to_logout(rp):
    """The page as written (Apache fills the claims in); it is only ever served signed in."""
    rp.write_config()
    client = rp.clients[0]
    written = (rp.workdir / "sites" / client.client_id / "index.shtml").read_text(encoding="utf-8")

    shown = page(written)
    assert h1(shown) == f"Signed in to {client.name} through IACS"
    assert title(shown)
    assert [dd["id"] for dd in shown.select("dl dd")] == [f"claim-{c}" for c in demo_rp.SHOWN_CLAIMS]
    for claim in demo_rp.SHOWN_CLAIMS:
        assert f'<!--#echo var="OIDC_CLAIM_{claim}" encoding="entity" -->' in written
    logout = urlsplit(shown.select_one("a#logout")["href"])
    assert logout.path == "/redirect_uri"
    assert parse_qs(logout.query) == {"logout": [rp.logged_out_url(client)]}
