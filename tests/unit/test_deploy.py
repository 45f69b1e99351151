"""The files of deploy/ say what the code does: every setting in the example environment, no
sticky routing, no query strings in nginx's log, the Procfile's processes."""

from __future__ import annotations

import re
from pathlib import Path

from deploy import stack
from portal.settings import ENV_VARS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_example_environment_names_every_setting():
    text = (DEPLOY / "portal.env.example").read_text()
    named = re.findall(r"^(PORTAL_[A-Z_]+)=", text, flags=re.MULTILINE)
    assert set(ENV_VARS) <= set(named), set(ENV_VARS) - set(named)
    assert len(named) == len(set(named))
    assert re.search(r"^PORTAL_ENV=production$", text, flags=re.MULTILINE)


def test_nginx_round_robins_without_stickiness_and_logs_no_query_string():
    site = (DEPLOY / "nginx" / "iacs.conf").read_text()
    upstream = re.search(r"upstream iacs_workers \{(.*?)\}", site, flags=re.DOTALL).group(1)
    assert len(re.findall(r"^\s*server ", upstream, flags=re.MULTILINE)) >= 2
    assert not re.search(r"\b(ip_hash|hash|sticky|least_conn|random)\b", upstream)
    for header in ("X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme", "Host $host"):
        assert f"proxy_set_header {header};" in site
    assert "proxy_set_header X-Request-ID $request_id;" in site
    log_format = re.search(r"log_format iacs (.*?);\n", site, flags=re.DOTALL).group(1)
    assert "$request_id" in log_format and "$upstream_addr" in log_format
    # Recovery links carry their token in the query string: neither it nor a Referer is logged.
    assert not re.search(r"\$(request|request_uri|args|query_string|http_referer)\b", log_format)
    assert "client_max_body_size 64k;" in site and "gzip off;" in site


def test_the_stack_runs_the_site_on_its_own_ports(tmp_path):
    local = stack.Stack(runtime=tmp_path, port=18080, web_ports=(18101, 18102))
    site = stack.site_config(local)
    assert "listen 127.0.0.1:18080;" in site
    assert "server 127.0.0.1:18101 " in site and "server 127.0.0.1:18102 " in site
    assert f"access_log {tmp_path}/iacs-access.log iacs;" in site and "/var/log/nginx" not in site


def test_the_procfile_has_the_processes_the_stack_starts():
    names = re.findall(r"^([a-z0-9-]+):", (DEPLOY / "Procfile").read_text(), flags=re.MULTILINE)
    assert names == ["web1", "web2", "mail-worker", "catcher"]
    assert stack.Stack().processes == names
    assert stack.Stack(smtp_url="smtp://relay:25").processes == ["web1", "web2", "mail-worker"]
    env = stack.Stack().env({"PATH": "/usr/bin", "PORTAL_DATABASE_URL": "sqlite:///elsewhere.db"})
    assert env["PORTAL_DATABASE_URL"].endswith("/iacs_stack") and env["PORTAL_TRUSTED_PROXIES"] == "127.0.0.1"
    assert env["PORTAL_REDIS_URL"] and env["PORTAL_MAIL_WORKER_INLINE"] == "false"


def test_systemd_units_serve_on_the_instance_port():
    web = (DEPLOY / "systemd" / "iacs-web@.service").read_text()
    assert "python -m portal serve --host 127.0.0.1 --port %i" in web
    assert "EnvironmentFile=/etc/iacs/portal.env" in web
    for job, command in (("purge", "purge"), ("remind", "remind"), ("oidc-keys", "oidc keys rotate")):
        assert f"python -m portal {command}\n" in (DEPLOY / "systemd" / f"iacs-{job}.service").read_text()
        assert "OnCalendar=" in (DEPLOY / "systemd" / f"iacs-{job}.timer").read_text()
