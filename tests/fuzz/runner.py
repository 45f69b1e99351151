"""The run: N fuzzed requests through the real app as the four personas, each response checked
(below 500, no markup echoed unescaped, no redirect off the site, valid HTML for a sample), then
the stored-row check. Used by ``python -m tests.fuzz`` and by the CI sample."""

from __future__ import annotations

import html
import logging
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.fuzz import stored
from tests.fuzz.generator import FuzzRequest, Generator
from tests.fuzz.personas import DRAFT, KINDS, MOVING, SESSION, SetupError, World
from tests.fuzz.routes import app_routes
from tests.fuzz.values import Pools, Values
from tests.htmlcheck import HTMLProblem, check_html

# Injected markup that must never come back unescaped (compared lower-cased).
ECHO_MARKERS = (
    b"<script>alert",
    b"<img src=x onerror",
    b"<svg onload",
    b"<iframe src=//evil",
    b"<a href=javascript:",
    b'href="javascript:',
    b"href='javascript:",
    b"<b>bold</b>",
)
# A recovery ticket the answers step carries (harvested: the portal seals it, the fuzzer cannot).
TICKET = re.compile(rb'name="ticket" value="([^"]{20,1200})"')
REDIRECT_HEADERS = ("location", "hx-redirect", "hx-location", "hx-push-url", "hx-replace-url")
HARVEST_EVERY = 250


@dataclass
class Finding:
    kind: str  # 5xx, echo, html, offsite-redirect, exception, generator
    route: str
    status: int
    detail: str
    repro: str
    log: str = ""

    @property
    def signature(self) -> str:
        """What tells one bug from another: the kind, the error, and where it was raised."""
        detail = re.sub(r" on [A-Z]+ /.*$", "", self.detail.splitlines()[0] if self.detail else "")
        frames = re.findall(r'File "([^"]+)", line (\d+)', self.log)
        where = f" at {frames[-1][0].split('site-packages/')[-1]}:{frames[-1][1]}" if frames else ""
        ours = [f for f in frames if "/portal/" in f[0] and "site-packages" not in f[0]]
        if ours and ours[-1] != frames[-1]:
            where += f" (in portal/{ours[-1][0].split('/portal/', 1)[-1]}:{ours[-1][1]})"
        if self.kind not in {"5xx", "exception", "html"}:
            detail = f"{self.route}: {detail[:120]}"
        return f"[{self.kind}] {detail}{where}"


@dataclass
class Report:
    seed: int
    requests: int = 0
    seconds: float = 0.0
    by_status: Counter = field(default_factory=Counter)
    by_route: Counter = field(default_factory=Counter)
    by_persona: Counter = field(default_factory=Counter)
    server_errors_by_route: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    html_checked: int = 0
    setup_requests: int = 0
    personas_made: dict[str, int] = field(default_factory=dict)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)  # suspicious, not failures
    remade: Counter = field(default_factory=Counter)  # why personas were made again
    outcomes: Counter = field(default_factory=Counter)  # (persona, method route, status, where to) of unsafe routes
    routes_not_driven: list[str] = field(default_factory=list)
    stored_problems: list[str] = field(default_factory=list)
    stored_checked: dict[str, int] = field(default_factory=dict)

    def of(self, *kinds: str) -> list[Finding]:
        return [f for f in self.findings if f.kind in kinds]

    def of_route(self, prefix: str) -> list[Finding]:
        return [f for f in self.findings if f.route.startswith(prefix)]

    @property
    def ok(self) -> bool:
        return not self.findings and not self.stored_problems

    def outcome_table(self) -> str:
        """How each unsafe route answered, by persona (``--verbose``)."""
        rows = sorted(self.outcomes.items(), key=lambda kv: (kv[0][1], kv[0][0], -kv[1]))
        return "\n".join(f"  {route:36} {who:10} {status} {to:28} {n}" for (who, route, status, to), n in rows)

    def summary(self, *, max_findings: int = 20) -> str:
        lines = [
            f"fuzz: {self.requests} requests (seed {self.seed}) in {self.seconds:.1f} s"
            f" ({self.requests / max(self.seconds, 1e-9):.0f}/s), plus {self.setup_requests} set-up and probe requests",
            f"personas made: {', '.join(f'{k} {v}' for k, v in self.personas_made.items())};"
            f" requests by persona: {', '.join(f'{k} {v}' for k, v in sorted(self.by_persona.items()))}",
            *(f"  made again {c} x: {why}" for why, c in self.remade.most_common(8)),
            "count by status:",
            *(f"  {status}  {count}" for status, count in sorted(self.by_status.items())),
            f"5xx: {sum(c for s, c in self.by_status.items() if s >= 500)}"
            + (f" (and {len(probes)} answering the personas' probes)" if (probes := self.of_route("probe ")) else ""),
        ]
        if self.server_errors_by_route:
            lines.append("5xx by route:")
            lines += [f"  {route}  {count}" for route, count in self.server_errors_by_route.most_common()]
        lines.append(f"HTML checked: {self.html_checked} responses")
        if self.routes_not_driven:
            lines.append(f"routes not driven: {', '.join(self.routes_not_driven)}")
        lines.append("slowest: " + "; ".join(f"{s:.2f} s {what}" for s, what in self.slowest[:5]))
        if self.notes:
            lines.append("suspicious (not failures):")
            lines += [f"  {count} x {note}" for note, count in self.notes.most_common()]
        kinds = Counter(f.kind for f in self.findings)
        lines.append(f"findings: {dict(kinds) if kinds else 'none'}")
        groups: dict[str, list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(finding.signature, []).append(finding)
        for n, (signature, found) in enumerate(sorted(groups.items(), key=lambda g: -len(g[1]))):
            if n == max_findings:
                lines.append(f"... and {len(groups) - max_findings} more distinct findings")
                break
            routes = Counter(f.route for f in found)
            example = min(found, key=lambda f: len(f.repro))
            lines += [
                "",
                f"{signature}: {len(found)} x, routes: {', '.join(f'{r} {c}' for r, c in routes.most_common(8))}",
                f"  status {example.status}: {example.detail[:300]}",
                "  reproduction: " + example.repro,
            ]
            if example.log:
                lines.append("  server log: " + example.log[-2500:])
        lines.append("")
        checked = ", ".join(f"{k} {v}" for k, v in sorted(self.stored_checked.items()) if v)
        lines.append(f"stored rows checked: {checked or 'none'}")
        if self.stored_problems:
            lines.append(f"stored rows the forms would refuse: {len(self.stored_problems)}")
            lines += [f"  {p}" for p in self.stored_problems[:50]]
            if len(self.stored_problems) > 50:
                lines.append(f"  ... and {len(self.stored_problems) - 50} more")
        else:
            lines.append("stored rows the forms would refuse: none")
        lines.append("RESULT: " + ("pass" if self.ok else "FAIL"))
        return "\n".join(lines)


class _ServerLog(logging.Handler):
    """What the portal logs for an unhandled error (type, route, code locations), per request."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())

    def take(self) -> str:
        text, self.records = "\n".join(self.records), []
        return text


def initial_pools() -> Pools:
    from portal.accounts.questions import QUESTIONS
    from tests.fuzz.personas import GOOD_PASSWORD, OTHER_PASSWORD
    from tests.integration.registration_flow import CONTACT, PERSONAL, ROLE_FIELDS

    def one(key: str, *more: str) -> list[str]:
        base = {**PERSONAL, **CONTACT, **ROLE_FIELDS}.get(key)
        return [*([base] if base is not None else []), *more]

    return Pools(
        {
            "first_name": one("first_name", "María", "O'Brien", "Jean-Luc", "Zoë", "Ana María", "Ana2"),
            "last_name": one("last_name", "Smith", "D’Angelo", "St. John", "Ng"),
            "middle_initial": one("middle_initial", "m.", "É", "", "MM"),
            "dob_day": one("dob_day", "29", "30", "07", "0", "32", ""),
            "dob_month": one("dob_month", "2", "March", "sept", "12", "13", ""),
            "dob_year": one("dob_year", "2000", "1900", "2020", "80", "19800", ""),
            "ssn": one("ssn", "123456789", "666-12-3456", "000-12-3456", "987-65-4321", "078-05-1120"),
            "email": ["ana@example.gov", "ANA@EXAMPLE.GOV", "ana.garcia+x@example.gov", "a@b", "ana@example.gov "],
            "code": ["123456", "000000", "12345", "1234567", " 123 456 "],
            "organization": one("organization", "A", "Acme & Sons (East), Inc."),
            "address1": one("address1", "1 Main St."),
            "address2": ["", "Suite 100", "Apt #4"],
            "city": one("city", "Winston-Salem", "Coeur d'Alene"),
            "state": ["MD", "md", "XX", "DC", "PR", ""],
            "zip": one("zip", "21244", "2124", "21244-185", "00000"),
            "phone": one("phone", "+1 202 555 0143", "(410) 786-3000", "+44 20 7946 0958", "555", "202-555-0143 x12"),
            "phone_ext": one("phone_ext", "123456", "1234567", "x1"),
            "action": ["role", "", "save", "ROLE"],
            "tin": one("tin", "123456789", "12-34567890", "00-0000000"),
            "legal_business_name": one("legal_business_name", "A", "Acme/Beta 'Health' & Co."),
            "contract_number": one("contract_number", "h1234", "X1234", "H12345"),
            "gentran_mailbox": one("gentran_mailbox", "gm004512", "GM00451"),
            "npi": one("npi", "1234567890", "123456789"),
            "organization_number": one("organization_number", "001234", "00123456"),
            "question": [*QUESTIONS, "nope", ""],
            "answer": ["Lincoln  Elementary", "Ford Focus", "lincoln elementary", "a", "ab", "x" * 101],
            "user_id": ["ABCD1234", "abcd1234", "admin"],
            "password": [GOOD_PASSWORD, OTHER_PASSWORD, "password", "short", "cms iacs cms iacs cms", "a" * 15],
            "reason": ["Not eligible", "Duplicate request", "x" * 501, " "],
            "back": [
                "/approvals",
                "/approvals?sort=due&dir=desc&page=2",
                "/approvals?q=Ana&application=PSR",
                "//evil.example",
                "/approvals//evil.example",
                "https://evil.example/approvals",
                "/approvals/../login",
                "/approvals\\@evil.example",
            ],
            "tracking": ["IACS-7K4M-9QX2-HT3P", "IACS-0000-0000-0000", "bulk"],
            "search": ["Ana", "García", "IACS-", "psr", "%", "_"],
            "section": ["personal", "contact", "questions", "review", "done", "PERSONAL"],
            "what": ["password", "user-id", "PASSWORD", "reset", "user_id"],
            "sort": [
                "tracking",
                "applicant",
                "organization",
                "application",
                "role",
                "submitted",
                "due",
                "password_hash",
            ],
            "dir": ["asc", "desc", "DESC"],
            "page": ["1", "2", "100000", "100001", "999999", "0", "-1", "1e3", "\uff11"],
            "overdue": ["1", "0", ""],
            "expired": ["1", "0"],
            "changed": ["1", "0"],
            "signed_out": ["1"],
            "reset": ["1"],
            "from": ["review", "REVIEW", "x"],
            "ticket": ["x", "e30.x.y"],
            "token": ["x", "e30.x.y"],
            "done": ["x"],
        }
    )


def _mint_notices(pools: Pools, secret: str) -> None:
    """Signed notices of the approval table (``done``), one of them markup: it must be escaped."""
    from portal.signing import signed

    notices = signed(secret, "iacs.approvals-notice.v1", 300, max_length=1000)
    for text in ("Approved 1 request.", "<script>alert(1)</script>", "x" * 900):
        pools.add("done", notices.dumps(text))


def _check_response(req: FuzzRequest, response: httpx.Response, report: Report, html_check: bool) -> None:
    status = response.status_code
    body = response.content
    lowered = body.lower()
    for marker in ECHO_MARKERS:
        if marker in lowered:
            at = lowered.index(marker)
            context = body[max(0, at - 80) : at + 80]
            report.findings.append(Finding("echo", req.route.name, status, f"{marker!r} in {context!r}", req.repro()))
            break
    for name in REDIRECT_HEADERS:
        for value in response.headers.get_list(name):
            target = value.strip()
            offsite = target.startswith(("//", "/\\")) or (
                target not in {"false", "true"} and not target.startswith("/") and "://testserver.local/" not in target
            )
            if offsite:
                report.findings.append(
                    Finding("offsite-redirect", req.route.name, status, f"{name}: {value}", req.repro())
                )
    if not html_check or req.method == "HEAD" or "text/html" not in response.headers.get("content-type", ""):
        return
    if not body.strip():
        return
    text = response.text
    sent = {k.lower(): v for k, v in req.headers}
    fragment = not text.lstrip().lower().startswith("<!doctype")
    if fragment and sent.get(b"hx-request") != b"true":
        # The integration tests' rule would fail this (a plain request should get a page);
        # it is listed, and checked as a fragment.
        report.notes[f"a fragment answered a plain (non-htmx) {req.method}: {req.route.name}"] += 1
    report.html_checked += 1
    try:
        check_html(text, fragment=fragment)
    except HTMLProblem as exc:
        report.findings.append(Finding("html", req.route.name, status, str(exc)[:300], req.repro()))


async def send(client, req: FuzzRequest) -> httpx.Response:
    """Send ``req`` with exactly its headers: the client's own cookie jar adds nothing (the
    request carries the persona's cookies, or tampered ones, or none), but takes in what the
    response sets."""
    request = client.build_request(req.method, req.url, headers=req.headers, content=req.body)
    request.headers = httpx.Headers([(k, v) for k, v in request.headers.raw if k.lower() != b"cookie"])
    for name, value in req.headers:
        if name == b"cookie":
            request.headers = httpx.Headers([*request.headers.raw, (name, value)])
    return await client.send(request)


async def run(
    app,
    mailbox,
    *,
    requests: int,
    seed: int,
    html_sample: float = 1.0,
    seed_requests: int = 3,
    progress=None,
    since: dict[str, int] | None = None,
    trace=None,
) -> Report:
    """Send ``requests`` fuzzed requests to ``app`` (whose settings must allow that many POSTs a
    minute), then check the rows stored since ``since`` (every row when None)."""
    rng = random.Random(seed)  # the personas' own choices; each request has a stream of its own
    pools = initial_pools()
    _mint_notices(pools, app.state.settings.secret_key)
    pools.add("name", *app.state.assets.by_hashed, "portal.css", "../portal/app.py", "vendor/../../README.md")
    report = Report(seed=seed)
    routes = app_routes(app)
    world = World(app, mailbox, pools, rng)
    generator = Generator(rng, Values(rng, pools), routes, app.state.settings.secret_key)
    server_log = _ServerLog()
    errors_logger = logging.getLogger("portal.errors")
    errors_logger.addHandler(server_log)
    errors_logger.propagate = False  # reported with its request instead
    for noisy in ("httpx", "portal.mail", "piccolo", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    world.server_log = server_log.take
    started = time.perf_counter()
    await world.start()
    try:
        for persona in world.personas.values():
            await persona.make()
        await world.seed_requests(seed_requests)
        for code, role, _ in world.roles:
            generator.roles.setdefault(code, []).append(role)
        server_log.take()
        for i in range(1, requests + 1):
            request_rng = random.Random(seed * 1_000_003 + i)
            persona = world.personas[request_rng.choice(KINDS)]
            await persona.ensure()
            generator.reseed(request_rng)
            req = generator.build(persona.kind, {k: p.jar() for k, p in world.personas.items()}, persona.hints())
            req.label = f"request {i} of seed {seed}"
            t0 = time.perf_counter()
            try:
                response = await send(persona.client, req)
            except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeError) as exc:
                report.findings.append(Finding("generator", req.route.name, 0, repr(exc)[:300], req.repro()))
                continue
            except Exception as exc:  # noqa: BLE001 - anything the app let through is a finding
                report.findings.append(Finding("exception", req.route.name, 0, repr(exc)[:300], req.repro()))
                persona.ready = False
                continue
            elapsed = time.perf_counter() - t0
            if trace:
                trace(f"{i} {persona.kind} {req.method} {req.url[:120]} {req.notes} -> {response.status_code}")
            report.slowest.append((elapsed, f"{req.method} {req.route.name} {req.notes[:3]}"))
            report.slowest = sorted(report.slowest, reverse=True)[:10]
            report.requests += 1
            report.by_status[response.status_code] += 1
            report.by_route[req.route.name] += 1
            report.by_persona[persona.kind] += 1
            if req.route.unsafe and req.method == req.route.method:
                to = response.headers.get("location") or response.headers.get("hx-redirect") or ""
                to = to or (
                    "push " + response.headers.get("hx-push-url", "") if "hx-push-url" in response.headers else ""
                )
                report.outcomes[(persona.kind, req.route.name, response.status_code, to.split("?")[0])] += 1
            logged = server_log.take()
            if response.status_code >= 500:
                report.server_errors_by_route[f"{req.method} {req.route.name}"] += 1
                detail = logged.splitlines()[0] if logged else response.text[-200:]
                report.findings.append(
                    Finding("5xx", req.route.name, response.status_code, detail, req.repro(), logged)
                )
            if response.status_code == 429:
                report.notes["429 (rate limit) answers"] += 1
            if elapsed > 2:
                report.notes[f"slower than 2 s: {req.method} {req.route.name}"] += 1
            _check_response(req, response, report, request_rng.random() < html_sample)
            for ticket in TICKET.findall(response.content[:200_000]):
                pools.add("ticket", html.unescape(ticket.decode("ascii", "replace")))
            set_cookies = " ".join(response.headers.get_list("set-cookie"))
            if (req.method == req.route.method and req.route.name in MOVING and response.status_code < 400) or (
                SESSION in set_cookies or DRAFT in set_cookies
            ):
                persona.dirty = True
            if i % HARVEST_EVERY == 0:
                await world.harvest()
                await world.refresh()
            if progress and i % 1000 == 0:
                server = sum(c for s, c in report.by_status.items() if s >= 500)
                progress(f"  {i}/{requests} requests, {time.perf_counter() - started:.0f} s, 5xx {server}")
    except SetupError as exc:  # a journey the personas follow broke: the run cannot go on
        report.findings.append(Finding("setup", "-", 0, str(exc)[:3000], "(setting up a persona)"))
    finally:
        report.seconds = time.perf_counter() - started
        report.setup_requests = world.setup_requests
        report.personas_made = {k: p.made for k, p in world.personas.items()}
        report.remade = world.remade
        errors_logger.removeHandler(server_log)
        errors_logger.propagate = True
        await world.close()
    for kind, request, status, log in world.probe_errors:
        detail = log.splitlines()[0] if log else f"{request} answered {status}"
        repro = f"persona={kind}: probing the persona with {request} (its cookies as the fuzzing left them)"
        report.findings.append(Finding("5xx", f"probe {request}", status, detail, repro, log))
    report.routes_not_driven = sorted({r.name for r in routes} - set(report.by_route))
    report.stored_problems, report.stored_checked = await stored.problems(app.state.cipher, since=since)
    return report
