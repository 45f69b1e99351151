"""The production shape on this machine (``make stack``, ``make stack-stop``).

``python -m deploy.stack up`` makes sure PostgreSQL and Redis answer (starting them when they are
down), creates the stack's database if missing, migrates it, loads the catalog, makes signing
keys if there are none, then runs ``deploy/Procfile`` under honcho in the background (two web
workers, the mail worker and, unless ``PORTAL_SMTP_URL`` names a relay, a local SMTP catcher)
and Debian's nginx with ``deploy/nginx/iacs.conf`` inside an nginx.conf of its own, and waits
until ``/healthz`` answers through nginx. Everything it writes (nginx's configuration, pid files,
logs) lives in the runtime directory, ``.stack/`` by default. ``down`` stops what ``up``
started there. ``catch`` is the Procfile's mail catcher.

The workers run with ``PORTAL_ENV=development`` (production wants an https base URL and real
secrets) and everything else as in production: PostgreSQL with a pool, Redis for the rate limit,
``PORTAL_TRUSTED_PROXIES=127.0.0.1`` behind nginx, a separate mail worker. The test
``tests/integration/test_stack.py`` starts one on ports of its own through :func:`up`."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "iacs.conf"
PROCFILE = DEPLOY / "Procfile"
BIN = Path(sys.executable).parent  # the project's .venv/bin: python, honcho
PG_BASE = "postgresql://postgres@127.0.0.1:5432"

# What deploy/nginx/iacs.conf says, and what the stack puts in its place.
SITE_LISTEN = "listen 127.0.0.1:8080;"
SITE_UPSTREAMS = ("server 127.0.0.1:8101 ", "server 127.0.0.1:8102 ")
SITE_LOG_DIR = "/var/log/nginx/"


class StackError(Exception):
    """The stack cannot start; the message says why in a line or two."""


@dataclass(frozen=True)
class Stack:
    """Where one stack runs: its runtime directory, ports, database, Redis and SMTP."""

    runtime: Path = ROOT / ".stack"
    port: int = 8080
    web_ports: tuple[int, int] = (8101, 8102)
    database: str = "iacs_stack"
    pg_base: str = PG_BASE
    redis_url: str = "redis://127.0.0.1:6379/0"
    smtp_url: str = ""  # empty: the local catcher on 127.0.0.1:1025
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.database):
            raise StackError(f"database name {self.database!r}: lower-case letters, digits and _ only")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"{self.pg_base}/{self.database}"

    @property
    def access_log(self) -> Path:
        return self.runtime / "iacs-access.log"

    @property
    def honcho_log(self) -> Path:
        return self.runtime / "honcho.log"

    @property
    def processes(self) -> list[str]:
        return ["web1", "web2", "mail-worker"] + ([] if self.smtp_url else ["catcher"])

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of every process: ``base`` (this one's by default) with the stack's
        settings over it."""
        env = dict(os.environ if base is None else base)
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
                "PYTHONUNBUFFERED": "1",
                "PORTAL_ENV": "development",
                "PORTAL_DATABASE_URL": self.database_url,
                "PORTAL_REDIS_URL": self.redis_url,
                "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
                "PORTAL_BASE_URL": f"http://localhost:{self.port}",
                "PORTAL_SMTP_URL": self.smtp_url or "smtp://127.0.0.1:1025",
                "PORTAL_MAIL_WORKER_INLINE": "false",
                "PORTAL_LOG_FORMAT": "json",  # as in production (ignored by a portal without it)
                "STACK_WEB1_PORT": str(self.web_ports[0]),
                "STACK_WEB2_PORT": str(self.web_ports[1]),
                **self.extra_env,
            }
        )
        return env


# ---- PostgreSQL, Redis -------------------------------------------------------------------------


def _run(args: list[str], env: dict[str, str] | None = None, what: str = "") -> str:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"{what or ' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def _pg_args(stack: Stack) -> list[str]:
    parts = urlsplit(stack.pg_base)
    return ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]


def ensure_postgres(stack: Stack) -> None:
    """PostgreSQL answers (started as .ci/run starts it when it is this machine's and down)."""
    args = _pg_args(stack)
    if subprocess.run(["pg_isready", "-q", *args[:4]], check=False).returncode == 0:
        return
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if versions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0].name, "main", "start"],
            check=False,
            capture_output=True,
        )
    for _ in range(30):
        if subprocess.run(["pg_isready", "-q", *args[:4]], check=False).returncode == 0:
            return
        time.sleep(1)
    raise StackError(f"PostgreSQL does not answer at {stack.pg_base}")


def ensure_database(stack: Stack) -> None:
    """The stack's database exists."""
    args = _pg_args(stack)
    found = _run(
        ["psql", *args, "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{stack.database}'"],  # noqa: S608 (checked)
        what="psql",
    )
    if found.strip() != "1":
        _run(["createdb", *args, stack.database], what=f"createdb {stack.database}")


def drop_database(stack: Stack) -> None:
    """Drop the stack's database, ending its sessions (a test or the load test starts afresh)."""
    drop = f'DROP DATABASE IF EXISTS "{stack.database}" WITH (FORCE)'  # the name is checked
    _run(["psql", *_pg_args(stack), "-d", "postgres", "-qc", drop], what=f"dropping {stack.database}")


def prepare_database(env: dict[str, str]) -> None:
    """Migrate, load the catalog, and make signing keys if there are none: ``python -m portal
    migrate``, ``catalog load`` and ``oidc keys rotate`` in one process (``prepare`` below)."""
    _run([str(BIN / "python"), "-m", "deploy.stack", "prepare"], env, "migrate, catalog load, oidc keys rotate")


def prepare() -> None:
    import asyncio

    from portal.cli import _catalog_load, _migrate, _oidc_rotate
    from portal.models.oidc import keys
    from portal.settings import get_settings

    async def run() -> None:
        settings = get_settings()
        await _migrate(settings)
        print(await _catalog_load(settings, None))
        if not await keys():
            await _oidc_rotate(settings)
            print("Signing keys made.")

    asyncio.run(run())


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(stack: Stack) -> None:
    """Redis answers at the stack's URL; started (pid file in the runtime directory, nothing kept
    on disk: it only holds rate-limit counts) when it is on this machine and down."""
    parts = urlsplit(stack.redis_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if redis_answers(host, port):
        return
    binary = shutil.which("redis-server")
    if host not in {"127.0.0.1", "localhost"} or binary is None:
        raise StackError(f"Redis does not answer at {stack.redis_url} (make stack installs redis-server)")
    _run(
        [
            binary,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(stack.runtime),
            "--pidfile",
            str(stack.runtime / "redis.pid"),
            "--logfile",
            str(stack.runtime / "redis.log"),
        ],
        what="redis-server",
    )
    for _ in range(50):
        if redis_answers(host, port):
            return
        time.sleep(0.1)
    raise StackError(f"redis-server did not start on {host}:{port}")


# ---- nginx ------------------------------------------------------------------------------------


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        raise StackError("nginx is missing: `make stack` installs Debian's nginx")
    return binary


def site_config(stack: Stack) -> str:
    """deploy/nginx/iacs.conf with the stack's ports and log directory."""
    text = SITE.read_text(encoding="utf-8")
    replacements = [
        (SITE_LISTEN, f"listen 127.0.0.1:{stack.port};"),
        *((old, f"server 127.0.0.1:{port} ") for old, port in zip(SITE_UPSTREAMS, stack.web_ports, strict=True)),
        (SITE_LOG_DIR, f"{stack.runtime}/"),
    ]
    for old, new in replacements:
        if old not in text:
            raise StackError(f"{SITE} no longer says {old!r}: update deploy/stack.py with it")
        text = text.replace(old, new)
    return text


def write_nginx_config(stack: Stack) -> Path:
    """nginx.conf of the stack's own (Debian's default site is not used): the site inside an
    http block, pid, temporary files and logs in the runtime directory."""
    temp = stack.runtime / "nginx-temp"
    temp.mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:  # workers run as www-data, as Debian's own configuration has them
        user = "user www-data;"
        shutil.chown(temp, "www-data")
    (stack.runtime / "iacs.conf").write_text(site_config(stack), encoding="utf-8")
    conf = stack.runtime / "nginx.conf"
    conf.write_text(
        f"""# Written by deploy/stack.py for the local stack; the site is deploy/nginx/iacs.conf.
{user}
worker_processes 1;
pid {stack.runtime}/nginx.pid;
error_log {stack.runtime}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {stack.runtime}/iacs.conf;
}}
""",
        encoding="utf-8",
    )
    return conf


def start_nginx(stack: Stack) -> None:
    conf = write_nginx_config(stack)
    base = [nginx_binary(), "-p", str(stack.runtime), "-c", str(conf), "-e", str(stack.runtime / "nginx-error.log")]
    _run([*base, "-t", "-q"], what="nginx -t")
    _run(base, what="nginx")


# ---- Starting, waiting, stopping --------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(stack: Stack, honcho: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    """Each worker answers /healthz on its own port, then nginx answers it."""
    deadline = time.monotonic() + timeout
    urls = [f"http://127.0.0.1:{port}/healthz" for port in stack.web_ports]
    while not all(_answers(u) for u in urls):
        if honcho is not None and honcho.poll() is not None:
            raise StackError(f"honcho stopped; its log ({stack.honcho_log}):\n{_log_tail(stack.honcho_log)}")
        if time.monotonic() > deadline:
            raise StackError(f"the workers did not answer in {timeout:.0f} s:\n{_log_tail(stack.honcho_log)}")
        time.sleep(0.2)
    start_nginx(stack)
    while not _answers(f"{stack.url}/healthz"):
        if time.monotonic() > deadline:
            raise StackError(f"nginx did not answer: {_log_tail(stack.runtime / 'nginx-error.log')}")
        time.sleep(0.1)


def up(stack: Stack, base_env: dict[str, str] | None = None) -> None:
    """Start the stack and return once /healthz answers through nginx."""
    stack.runtime.mkdir(parents=True, exist_ok=True)
    if _pid(stack.runtime / "honcho.pid") or _pid(stack.runtime / "nginx.pid"):
        raise StackError(f"a stack already runs from {stack.runtime}: `make stack-stop` first")
    if not (BIN / "honcho").exists():
        raise StackError(f"honcho is missing from {BIN}: `make install` installs it (uv.lock)")
    env = stack.env(base_env)
    ensure_postgres(stack)
    ensure_redis(stack)
    ensure_database(stack)
    prepare_database(env)
    # honcho would read a .env in the project's root over the stack's settings: an empty one instead.
    env_file = stack.runtime / "honcho.env"
    env_file.write_text("# The stack's settings come from deploy/stack.py, not from a .env file.\n")
    command = [str(BIN / "honcho"), "start", "--no-colour", "-e", str(env_file), "-f", str(PROCFILE), "-d", str(ROOT)]
    with stack.honcho_log.open("ab") as log:
        honcho = subprocess.Popen(
            [*command, *stack.processes],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # apart from the shell (and pytest) that started it
        )
    (stack.runtime / "honcho.pid").write_text(f"{honcho.pid}\n")
    try:
        wait_ready(stack, honcho)
    except BaseException:
        down(stack)
        raise


def _stop(pid: int | None, sig: signal.Signals, timeout: float) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        try:  # reap it when it is our own child (the test starts and stops in one process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def down(stack: Stack) -> list[str]:
    """Stop honcho (which stops its processes), nginx and a Redis the stack started; return what
    was stopped."""
    stopped = []
    for name, sig in (("honcho", signal.SIGTERM), ("nginx", signal.SIGQUIT), ("redis", signal.SIGTERM)):
        path = stack.runtime / f"{name}.pid"
        pid = _pid(path)
        if pid is not None:
            _stop(pid, sig, timeout=20)
            stopped.append(name)
        path.unlink(missing_ok=True)
    return stopped


# ---- The Procfile's mail catcher ---------------------------------------------------------------


def catch() -> None:
    """The development SMTP catcher on PORTAL_SMTP_URL, printing every message, until SIGTERM."""
    from portal.mail.catcher import start_catcher, stop_catcher

    smtp = urlsplit(os.environ.get("PORTAL_SMTP_URL", "smtp://127.0.0.1:1025"))
    controller, _ = start_catcher(smtp.hostname or "127.0.0.1", smtp.port or 1025)
    print(f"Mail catcher listening on {smtp.hostname}:{smtp.port}: every email is printed here.", flush=True)
    stopping = False

    def _stop_catching(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop_catching)
    signal.signal(signal.SIGINT, _stop_catching)
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        stop_catcher(controller)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the stack and wait until nginx answers")
    stop = sub.add_parser("down", help="stop what `up` started")
    for p in (start, stop):
        p.add_argument("--dir", type=Path, default=Stack.runtime, help="runtime directory (default .stack/)")
    start.add_argument("--port", type=int, default=Stack.port, help="nginx's port (default 8080)")
    start.add_argument("--web-ports", default="8101,8102", help="the two workers' ports (default 8101,8102)")
    start.add_argument("--database", default=Stack.database, help="database on the local PostgreSQL")
    start.add_argument("--redis-url", default=Stack.redis_url)
    sub.add_parser("catch", help="the local SMTP catcher (a Procfile process)")
    sub.add_parser("prepare", help="migrate, load the catalog, make signing keys if none (PORTAL_* settings)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare()
        return 0
    if args.command == "catch":
        catch()
        return 0
    if args.command == "down":
        stopped = down(Stack(runtime=args.dir.resolve()))
        print(f"Stopped: {', '.join(stopped)}." if stopped else "Nothing was running.")
        return 0
    first, second = (int(p) for p in args.web_ports.split(","))
    stack = Stack(
        runtime=args.dir.resolve(),
        port=args.port,
        web_ports=(first, second),
        database=args.database,
        redis_url=args.redis_url,
        smtp_url=os.environ.get("PORTAL_SMTP_URL", ""),
    )
    try:
        up(stack)
    except StackError as exc:
        print(f"make stack: {exc}", file=sys.stderr)
        return 1
    smtp = stack.smtp_url or "the local catcher on 127.0.0.1:1025 (messages printed in the log)"
    print(
        f"Stack running: http://localhost:{stack.port}/ (nginx, round-robin to 127.0.0.1:{first} and"
        f" 127.0.0.1:{second}), mail worker, PostgreSQL database {stack.database}, Redis {stack.redis_url}.\n"
        f"Mail goes to {smtp}.\nLogs: {stack.honcho_log} (the processes), {stack.access_log} (nginx).\n"
        "Stop it with `make stack-stop`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
