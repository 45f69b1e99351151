"""The application factory."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from jinja2 import StrictUndefined
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression.brotli_facade import BrotliCompression
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from litestar.types import HTTPScope, LifeSpanReceive, LifeSpanScope, LifeSpanSend, Message, Receive, Scope, Send
from piccolo.engine.postgres import PostgresEngine

from portal import malloc, metrics, timefmt
from portal.accounts.service import IDLE_TIMEOUT
from portal.accounts.sso import Provider
from portal.assets import AssetManifest
from portal.auth import DEPENDENCIES, Continuation, SessionCookies
from portal.clock import now
from portal.controllers import EXCEPTION_HANDLERS, ROUTE_HANDLERS
from portal.controllers.home import help_link
from portal.controllers.registration import Wizard
from portal.crypto import FieldCipher
from portal.drafts import DraftCookies
from portal.edge import head_as_get, parse_networks, resolve_client
from portal.invisible import displayable
from portal.links import Links
from portal.logs import JsonFormatter, request_context, request_id_from, stamp_request_ids
from portal.mail.worker import run_worker
from portal.models.db import bind
from portal.models.engine import make_engine
from portal.returns import Returns
from portal.security import CSRF, csrf, rate_limit, rate_limit_stores, security_headers_hook, token_rate_limit
from portal.settings import Settings, get_settings
from portal.web import PortalRequest, links_for, seconds_until

TEMPLATES = Path(__file__).parent / "templates"
# The largest request body read (the biggest form, a bulk approval of 100 rows, is under 8 KiB);
# a larger one gets 413 before anything parses it.
MAX_BODY = 64 * 1024


class Portal(Litestar):
    """Litestar, with what is done to every HTTP request before routing: the client address
    taken from ``X-Forwarded-For`` only when the peer is a trusted proxy (see portal.edge),
    ``HEAD`` answered as ``GET`` without the body, a request id (``X-Request-ID`` from the proxy
    when it is a safe token, else a new one; echoed in the response and on every log line of the
    request), and the request counted and timed by route name and status for /metrics."""

    trusted_proxies: tuple[Any, ...] = ()

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] == ScopeType.HTTP:
            resolve_client(scope, self.trusted_proxies)
            await self._observed(scope, cast(Receive, receive), cast(Send, send))
            return
        await super().__call__(scope, receive, send)

    async def _observed(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        header = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
        request_id = request_id_from(header.decode("latin-1"))
        started = time.perf_counter()
        status = 500  # when no response starts: the server answers 500
        routed: list[Scope] = [scope]  # HEAD is routed as a copy of the scope, made GET

        async def with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        async def route(inner: Scope, rcv: Receive, snd: Send) -> None:
            routed[0] = inner
            await Litestar.__call__(self, inner, rcv, snd)

        with request_context(request_id):
            try:
                if scope["method"] == "HEAD":
                    await head_as_get(scope, receive, with_request_id, route)
                else:
                    await route(scope, receive, with_request_id)
            finally:
                handler = routed[0].get("route_handler")
                name = getattr(handler, "name", None) or "unmatched"
                if name != "ops:metrics":  # a scrape every few seconds would drown the rest
                    metrics.observe_request(name, status, time.perf_counter() - started)


def strip_query_strings(record: logging.LogRecord) -> bool:
    """uvicorn.access records carry (client, method, path?query, version, status)."""
    if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
        args = list(record.args)
        args[2] = str(args[2]).split("?", 1)[0]
        record.args = tuple(args)
    return True


V = TypeVar("V")


def _value(value: V) -> Provide:
    """A dependency that is one object for the life of the app."""

    def provide() -> V:
        return value

    return Provide(provide, use_cache=True, sync_to_thread=False)


def logging_config(settings: Settings) -> LoggingConfig:
    """The portal's own loggers and Litestar's, through one queue; PORTAL_LOG_FORMAT=json: one
    JSON object per line (portal.logs), else Litestar's text lines."""
    # uvicorn's access lines too: its own handler would format and write each one on the event
    # loop, and a slow reader of the pipe (a supervisor, a log shipper) would stall every request
    # (8 % of a worker's request time in the load test); the queue's thread does it instead.
    access = {"level": "INFO", "handlers": ["queue_listener"], "propagate": False}
    config = LoggingConfig(
        root={"level": "INFO", "handlers": ["queue_listener"]},
        loggers={"uvicorn.access": access},
        log_exceptions="never",
    )
    if settings.log_format == "json":
        config.formatters["standard"] = {"()": JsonFormatter}
    return config


class ReleasingBrotli(BrotliCompression):
    """Litestar's brotli facade, letting go of its compressor once the body is written. The
    compressor's native state (its window and hash tables: 640 KiB resident after a 30 KB page
    at quality 5, measured) was otherwise freed only with the request, and a rendered page
    leaves its request in a reference cycle (a Jinja context and the macros imported "with
    context") until the garbage collector's next full pass: a worker at rest swung by up to
    14 MiB with the pages waiting for it (bench/memory.py)."""

    __slots__ = ()

    def close(self) -> None:
        compressor = getattr(self, "compressor", None)
        if compressor is not None:
            self.buffer.write(compressor.finish())
            del self.compressor


def compression() -> CompressionConfig:
    config = CompressionConfig(
        backend="brotli",
        brotli_gzip_fallback=True,
        minimum_size=500,
        brotli_quality=5,
        gzip_compress_level=6,
        exclude_opt_key="precompressed",  # static files carry their own, made once at start-up
    )
    config.compression_facade = ReleasingBrotli  # set after the config's check, which names its own
    return config


def create_app(settings: Settings | None = None) -> Portal:
    malloc.tune()  # before this worker's threads: see portal/malloc.py
    settings = (settings or get_settings()).check()
    engine = make_engine(settings)
    bind(engine)
    assets = AssetManifest()
    cipher = FieldCipher(settings.data_key)
    returns = Returns(cipher, secure=settings.production)
    drafts = DraftCookies(settings)
    sessions = SessionCookies(settings)
    links: list[Links] = []  # made from the routes once the app exists

    @asynccontextmanager
    async def database_pool(app: Litestar) -> AsyncIterator[None]:
        """A PostgreSQL pool for the life of the app (PORTAL_DB_POOL_SIZE=0: none, a connection
        per query, which the tests use because the test client runs the app on its own loop)."""
        if isinstance(engine, PostgresEngine) and engine.pool is None and settings.db_pool_size > 0:
            await engine.start_connection_pool(min_size=1, max_size=settings.db_pool_size)
            try:
                yield
            finally:
                await engine.close_connection_pool()
        else:
            yield

    @asynccontextmanager
    async def inline_mail_worker(app: Litestar) -> AsyncIterator[None]:
        """With PORTAL_MAIL_WORKER_INLINE (make run), the web process delivers the outbox."""
        if not settings.mail_worker_inline:
            yield
            return
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(settings, stop))
        try:
            yield
        finally:
            stop.set()
            await task

    @asynccontextmanager
    async def frozen_start(app: Litestar) -> AsyncIterator[None]:
        """What the worker made to start (modules, routes, templates: ~137,000 objects) is moved
        out of the garbage collector's generations (gc.freeze). Its full pass runs once a
        quarter as many new objects as the oldest generation holds have piled up: with the
        start-up objects in it, that was ~34,000, and the reference cycles a page leaves (a
        Jinja context with its macros, which holds the request, its send chain and the
        response's brotli compressor) waited for it, 30 to 40 MiB of a worker at rest
        (bench/memory.py). Frozen, the pass counts only what came after, and runs often."""
        gc.collect()
        gc.freeze()
        yield

    @asynccontextmanager
    async def metrics_process(app: Litestar) -> AsyncIterator[None]:
        """In multiprocess mode a worker that stops takes its live gauges with it."""
        try:
            yield
        finally:
            metrics.process_exited(os.getpid())

    def configure_jinja(jinja: JinjaTemplateEngine) -> None:
        env = jinja.engine
        env.undefined = StrictUndefined
        env.finalize = displayable
        env.trim_blocks = True
        env.lstrip_blocks = True
        env.globals["asset"] = assets.url
        env.globals["production"] = settings.production
        env.globals["help_link"] = help_link
        env.globals["session_idle_seconds"] = int(IDLE_TIMEOUT.total_seconds())
        env.filters["seconds_until"] = seconds_until
        env.filters["day"] = timefmt.day
        env.filters["clock"] = timefmt.clock
        env.filters["day_and_clock"] = timefmt.day_and_clock
        env.filters["days_until"] = timefmt.days_until
        env.filters["deadline"] = lambda moment: timefmt.deadline(moment, now())
        env.filters["time_left"] = lambda moment: timefmt.time_left(moment, now())

    app = Portal(
        route_handlers=ROUTE_HANDLERS,
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies={
            **DEPENDENCIES,
            "cipher": _value(cipher),
            "returns": _value(returns),
            "sessions": _value(sessions),
            "continuation": _value(Continuation(settings)),
            "provider": _value(Provider(settings.base_url, cipher, settings.secret_key)),
            "wizard": _value(Wizard(drafts, cipher, settings, returns)),
            "links": Provide(lambda: links[0], use_cache=True, sync_to_thread=False),
        },
        # The first is innermost: the CSRF check runs inside the rate limit.
        middleware=[
            DefineMiddleware(CSRF, config=csrf(settings)),
            rate_limit(settings).middleware,
            token_rate_limit(settings).middleware,
        ],
        stores=rate_limit_stores(settings),
        plugins=[HTMXPlugin()],
        request_class=PortalRequest,
        lifespan=[database_pool, inline_mail_worker, metrics_process, frozen_start],
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure_jinja
        ),
        compression_config=compression(),
        before_send=[security_headers_hook(settings)],
        logging_config=logging_config(settings),
        openapi_config=None,
        request_max_body_size=MAX_BODY,
        debug=False,
    )
    app.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.state.metrics_allow = parse_networks(settings.metrics_allow)
    app.state.settings = settings
    app.state.assets = assets
    app.state.sessions = sessions
    app.state.cipher = cipher  # for operators' scripts and the tests; handlers get it as a dependency
    links.append(links_for(app, settings.base_url))
    stamp_request_ids()  # every log line of a request carries its id
    logging.getLogger("portal").setLevel(logging.INFO)
    # Access logs keep the path, never the query string (recovery links carry their token there).
    logging.getLogger("uvicorn.access").addFilter(strip_query_strings)
    # aiosqlite logs every query with its parameters at DEBUG: personal data must never reach logs.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    # authlib logs issued tokens at DEBUG: tokens must never reach logs either.
    logging.getLogger("authlib").setLevel(logging.WARNING)
    return app
