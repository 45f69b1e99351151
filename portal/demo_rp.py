"""A demo relying party for the portal's single sign-on: Debian's Apache httpd with
``mod_auth_openidc`` (an OpenID-certified client), one virtual host per demo application.

``make run`` starts it beside the portal so a newcomer sees real single sign-on from the first
minute, and the browser tests sign in through it. Each application's page is protected by
``mod_auth_openidc`` and lists the claims it received from the portal; its "Log out" link asks
``mod_auth_openidc`` for RP-initiated logout at the portal; ``/loggedout`` is public.

Apache runs in the foreground as a child process, with a configuration of its own in
``workdir`` (nothing of ``/etc/apache2`` is read). The pages are server-side includes, which
escape every claim for HTML themselves, so nothing runs but Apache. Standard library only:
no Litestar here."""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

APACHE = Path("/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")
PACKAGES = "apache2 and libapache2-mod-auth-openidc"

# Loaded in this order (unless compiled in); mod_auth_openidc last.
MODULE_NAMES = (
    "mpm_event",
    "authn_core",
    "authz_core",
    "authz_user",
    "mime",
    "dir",
    "alias",
    "include",
    "env",
    "setenvif",
    "headers",
    "log_config",
    "unixd",
    "auth_openidc",
)
# Debian's apache2 has these compiled in (``apache2 -l``): no .so to look for.
BUILT_IN = frozenset({"log_config", "unixd"})

# The claims each page lists, in order (mod_auth_openidc passes them as OIDC_CLAIM_<name>;
# a list, such as amr and roles, arrives comma-separated).
SHOWN_CLAIMS = ("sub", "name", "email", "acr", "amr", "roles")

# The demo applications of the catalog: client_id -> (host, name).
DEMO_APPLICATIONS: Mapping[str, tuple[str, str]] = {
    "hpms": ("hpms.localhost", "HPMS"),
    "marx": ("marx.localhost", "MARX"),
}

# Apache drops root for this account (it refuses to serve as root).
RUN_USER = "www-data"


class DemoRPError(RuntimeError):
    """The demo relying party could not be configured or started; ``str()`` says why."""


def available() -> str | None:
    """None when Apache and mod_auth_openidc are installed, else why the demo cannot run."""
    if not APACHE.is_file() or not os.access(APACHE, os.X_OK):
        return f"{APACHE} not found (Debian packages {PACKAGES}; `make run` installs them)"
    missing = [name for name in MODULE_NAMES if name not in BUILT_IN and not _module_path(name).is_file()]
    if missing:
        names = ", ".join(f"mod_{name}" for name in missing)
        return f"{names} not found in {MODULES} (Debian packages {PACKAGES})"
    return None


@dataclass(frozen=True, slots=True)
class DemoClient:
    """One demo application: its host name (``hpms.localhost``), its OpenID Connect client at
    the portal and the name its page shows (``HPMS``)."""

    host: str
    client_id: str
    client_secret: str = field(repr=False)
    name: str


def demo_clients(client_secrets: Mapping[str, str]) -> list[DemoClient]:
    """The demo applications for ``{client_id: secret}`` (ids of ``DEMO_APPLICATIONS``)."""
    return [
        DemoClient(
            host=DEMO_APPLICATIONS[client_id][0],
            client_id=client_id,
            client_secret=secret,
            name=DEMO_APPLICATIONS[client_id][1],
        )
        for client_id, secret in client_secrets.items()
    ]


def _module_path(name: str) -> Path:
    return MODULES / f"mod_{name}.so"


def _quoted(value: str) -> str:
    """A directive argument in double quotes."""
    if any(c in value for c in '"\\\n\r'):
        raise DemoRPError(f"unusable character in configuration value {value!r}")
    return f'"{value}"'


class DemoRP:
    """Apache with one virtual host per client, listening on ``listen:port``, signing people in
    at the OpenID Connect provider ``provider_url`` (the portal's issuer).

    ``write_config()`` writes everything into ``workdir`` (None: a temporary directory of its
    own, removed by ``stop()``); ``start()`` runs Apache and returns once it accepts
    connections; ``stop()`` ends it. Also a context manager (start and stop)."""

    def __init__(
        self,
        workdir: Path | None,
        port: int,
        provider_url: str,
        clients: Sequence[DemoClient],
        *,
        listen: str = "127.0.0.1",
    ) -> None:
        if not clients:
            raise DemoRPError("no demo clients")
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="iacs-demo-rp-") if workdir is None else workdir).resolve()
        self.port = port
        self.provider_url = provider_url.rstrip("/")
        self.clients = tuple(clients)
        self.listen = listen
        self._process: subprocess.Popen[bytes] | None = None

    # ---- addresses ----

    def url(self, client: DemoClient) -> str:
        """The application's protected page (its login URL)."""
        return f"http://{client.host}:{self.port}/"

    def redirect_uri(self, client: DemoClient) -> str:
        return f"http://{client.host}:{self.port}/redirect_uri"

    def logged_out_url(self, client: DemoClient) -> str:
        """The public page the portal sends people back to after logout."""
        return f"http://{client.host}:{self.port}/loggedout"

    def logout_path(self, client: DemoClient) -> str:
        """The "Log out" link: mod_auth_openidc ends its session, then sends the browser to the
        portal's end_session_endpoint with ``post_logout_redirect_uri`` = ``logged_out_url``."""
        return f"/redirect_uri?logout={quote(self.logged_out_url(client), safe='')}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "httpd.conf"

    @property
    def error_log(self) -> Path:
        return self.workdir / "logs" / "error.log"

    # ---- configuration ----

    def write_config(self) -> Path:
        """Write httpd.conf and each application's pages into ``workdir``; the path of httpd.conf.

        The configuration holds the client secrets and is readable by its owner only; the pages
        must be readable by the account Apache serves as (``www-data`` when started as root)."""
        for part in ("logs", "run", "sites"):
            (self.workdir / part).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._open_to_run_user()
        for client in self.clients:
            site = self._site(client)
            site.mkdir(parents=True, exist_ok=True)
            (site / "index.shtml").write_text(self._signed_in_page(client), encoding="utf-8")
            (site / "loggedout.html").write_text(self._logged_out_page(client), encoding="utf-8")
            for page in site.iterdir():
                page.chmod(0o644)
            site.chmod(0o755)
        self.config_path.write_text(self._httpd_conf(), encoding="utf-8")
        self.config_path.chmod(0o600)
        return self.config_path

    def check_config(self) -> None:
        """``apache2 -t`` on the written configuration; DemoRPError with Apache's words if wrong."""
        done = subprocess.run(  # noqa: S603 (a fixed program and our own configuration)
            [str(APACHE), "-t", "-f", str(self.config_path), "-d", str(self.workdir)],
            capture_output=True,
            text=True,
            check=False,
            env=self._environment(),
        )
        if done.returncode != 0:
            raise DemoRPError(f"apache2 -t: {(done.stderr or done.stdout).strip()}")

    def _site(self, client: DemoClient) -> Path:
        return self.workdir / "sites" / client.client_id

    def _open_to_run_user(self) -> None:
        """Apache's workers (www-data) read the pages: every directory down to them must let
        others through."""
        self.workdir.chmod(0o755)
        (self.workdir / "sites").chmod(0o755)
        for parent in self.workdir.parents:
            if not parent.stat().st_mode & 0o001:
                raise DemoRPError(
                    f"{parent} does not let {RUN_USER} through (mode {parent.stat().st_mode & 0o777:o}): "
                    "choose a work directory Apache's workers can reach, such as one under /tmp"
                )

    def _httpd_conf(self) -> str:
        w = self.workdir
        lines = [
            "# Written by portal/demo_rp.py: the demo relying party (Apache + mod_auth_openidc).",
            *(
                f"<IfModule !{name}_module>\n    LoadModule {name}_module {_module_path(name)}\n</IfModule>"
                for name in MODULE_NAMES
            ),
            f"ServerRoot {_quoted(str(w))}",
            f"DefaultRuntimeDir {_quoted(str(w / 'run'))}",
            f"PidFile {_quoted(str(self._pid_file))}",
            f"ErrorLog {_quoted(str(self.error_log))}",
            "LogLevel warn",
            # The path only: the query of /redirect_uri carries the authorization code.
            'LogFormat "%h %t \\"%m %U %H\\" %>s %b" path_only',
            f"CustomLog {_quoted(str(w / 'logs' / 'access.log'))} path_only",
            f"Listen {self.listen}:{self.port}",
            "ServerName localhost",
            "ServerTokens Prod",
            "ServerSignature Off",
            "HostnameLookups Off",
            "StartServers 1",
            "ServerLimit 2",
            "ThreadsPerChild 10",
            "MaxRequestWorkers 20",
            "MinSpareThreads 5",
            "MaxSpareThreads 20",
            "TypesConfig /dev/null",
            "AddType text/html .shtml .html",
            "AddOutputFilter INCLUDES .shtml",
            "AddDefaultCharset utf-8",
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
        ]
        if os.geteuid() == 0:
            lines += [f"User {RUN_USER}", f"Group {RUN_USER}"]
        for client in self.clients:
            lines += self._virtual_host(client)
        return "\n".join(lines) + "\n"

    def _virtual_host(self, client: DemoClient) -> list[str]:
        site = self._site(client)
        return [
            "",
            f"<VirtualHost {self.listen}:{self.port}>",
            f"    ServerName {client.host}",
            f"    DocumentRoot {_quoted(str(site))}",
            "    DirectoryIndex index.shtml",
            f"    OIDCProviderMetadataURL {_quoted(self.provider_url + '/.well-known/openid-configuration')}",
            f"    OIDCClientID {_quoted(client.client_id)}",
            f"    OIDCClientSecret {_quoted(client.client_secret)}",
            f"    OIDCRedirectURI {_quoted(self.redirect_uri(client))}",
            f"    OIDCCryptoPassphrase {_quoted(secrets.token_urlsafe(32))}",
            "    OIDCProviderTokenEndpointAuth client_secret_basic",
            "    OIDCPKCEMethod S256",
            '    OIDCScope "openid profile email"',
            "    OIDCRemoteUserClaim sub",
            "    OIDCPassClaimsAs environment",
            # Plain http: mod_auth_openidc marks cookies Secure and SameSite=None only on https, so
            # here they carry no SameSite (browsers take Lax) and work. On would make the session
            # cookie Strict once refreshed: the portal's "Log in to HPMS" link would then arrive
            # without it and sign in again through the portal.
            "    OIDCCookieSameSite Off",
            "    OIDCCookieHTTPOnly On",
            f"    OIDCDefaultLoggedOutURL {_quoted(self.logged_out_url(client))}",
            f"    <Directory {_quoted(str(site))}>",
            "        Options +IncludesNoExec",
            "        Require all granted",
            "    </Directory>",
            "    <Location />",
            "        AuthType openid-connect",
            "        Require valid-user",
            "    </Location>",
            f"    Alias /loggedout {_quoted(str(site / 'loggedout.html'))}",
            "    <Location /loggedout>",
            "        AuthType None",
            "        Require all granted",
            "    </Location>",
            '    Header always set Cache-Control "no-store"',
            '    Header always set Referrer-Policy "no-referrer"',
            "</VirtualHost>",
        ]

    def _signed_in_page(self, client: DemoClient) -> str:
        rows = "\n".join(
            f'        <dt>{claim}</dt><dd id="claim-{claim}">'
            f'<!--#echo var="OIDC_CLAIM_{claim}" encoding="entity" --></dd>'
            for claim in SHOWN_CLAIMS
        )
        return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{client.name} (demo): signed in through IACS</title>
  </head>
  <body>
    <main>
      <h1>Signed in to {client.name} through IACS</h1>
      <p>A demo application: Apache httpd with mod_auth_openidc, an OpenID Connect relying party
      of the IACS portal. These are the claims it received:</p>
      <!--#config echomsg="" -->
      <dl>
{rows}
      </dl>
      <p><a id="logout" href="{self.logout_path(client).replace("&", "&amp;")}">Log out</a></p>
    </main>
  </body>
</html>
"""

    def _logged_out_page(self, client: DemoClient) -> str:
        return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{client.name} (demo): logged out</title>
  </head>
  <body>
    <main>
      <h1>You are logged out of {client.name}</h1>
      <p><a id="login" href="/">Sign in to {client.name} again</a> (through IACS).</p>
    </main>
  </body>
</html>
"""

    # ---- running ----

    def _environment(self) -> dict[str, str]:
        # Debian's apache2 reads these from /etc/apache2/envvars, which we do not use.
        env = {key: value for key, value in os.environ.items() if not key.startswith("APACHE_")}
        env["APACHE_RUN_DIR"] = str(self.workdir / "run")
        env["APACHE_LOG_DIR"] = str(self.workdir / "logs")
        env["APACHE_LOCK_DIR"] = str(self.workdir / "run")
        env["APACHE_PID_FILE"] = str(self._pid_file)
        env["APACHE_RUN_USER"] = RUN_USER
        env["APACHE_RUN_GROUP"] = RUN_USER
        return env

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        """Write the configuration, run Apache in the foreground as a child process and wait
        until it accepts connections. DemoRPError (with the end of its error log) if it cannot;
        nothing is left running then."""
        reason = available()
        if reason is not None:
            raise DemoRPError(reason)
        if self.running:
            return
        try:
            self._launch(timeout)
        except BaseException:
            self.stop()
            raise

    def _launch(self, timeout: float) -> None:
        self.write_config()
        self.check_config()
        if not self._port_free():
            raise DemoRPError(f"{self.listen}:{self.port} is in use (another demo application still running?)")
        self.error_log.write_text("", encoding="utf-8")
        self._pid_file.unlink(missing_ok=True)
        self._process = process = subprocess.Popen(  # noqa: S603 (a fixed program and our own configuration)
            [str(APACHE), "-DFOREGROUND", "-f", str(self.config_path), "-d", str(self.workdir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self._environment(),
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            preexec_fn=_end_with_parent,  # one system call, before apache2 runs
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DemoRPError(f"apache2 exited with status {process.returncode}: {self._last_words()}")
            if self._pid_file.is_file() and self._accepts():  # the pid file is written once it listens
                return
            time.sleep(0.05)
        raise DemoRPError(f"apache2 did not listen on {self.listen}:{self.port} in {timeout:g} s: {self._last_words()}")

    def stop(self, timeout: float = 10.0) -> None:
        """End Apache and its workers (nothing happens if it is not running)."""
        process, self._process = self._process, None
        if process is None:
            self._remove_own_workdir()
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # apache2: stop now, workers included
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stderr is not None:
            process.stderr.close()
        self._remove_own_workdir()

    def _remove_own_workdir(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DemoRP:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def _pid_file(self) -> Path:
        return self.workdir / "run" / "httpd.pid"

    def _port_free(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Apache does
            try:
                probe.bind((self.listen, self.port))
            except OSError:
                return False
        return True

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.listen, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _last_words(self) -> str:
        words = ""
        if self._process is not None and self._process.stderr is not None and self._process.poll() is not None:
            words = self._process.stderr.read().decode(errors="replace").strip()
        if not words and self.error_log.is_file():
            words = self.error_log.read_text(encoding="utf-8", errors="replace").strip()
        return "\n".join(words.splitlines()[-5:]) or "(nothing logged)"


def _end_with_parent() -> None:
    """In the child before apache2 runs: Linux sends it SIGTERM when the process that started it
    dies, even by SIGKILL or a closed terminal, so no Apache is left holding the port."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
