"""Log lines: the request id that follows a request (into its outbox rows and the mail
worker's lines about them), and one JSON object per line when ``PORTAL_LOG_FORMAT=json``.

The request id lives in a context variable: the web edge sets it for each request
(``portal.app``), the mail worker for each message it delivers. Every log record is stamped
with it when it is made (a record factory), so a line formatted later, on a logging thread,
still carries the id of the request that logged it.

Nothing here decides what is logged: callers log ids, kinds and exception types, never an
address, a code, a password, an answer, an SSN or a TIN.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

_REQUEST_ID: ContextVar[str] = ContextVar("portal_request_id", default="")
# What a proxy may send as X-Request-ID and be believed (nginx's $request_id is 32 hex digits).
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def current_request_id() -> str:
    """The id of the request (or outbox message) being handled; "" outside one."""
    return _REQUEST_ID.get()


def new_request_id() -> str:
    return secrets.token_hex(16)


def request_id_from(header: str | None) -> str:
    """The header's value when it is a safe token, else a new id."""
    if header and SAFE_REQUEST_ID.fullmatch(header):
        return header
    return new_request_id()


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Log lines inside carry ``request_id``."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)


# The attributes every LogRecord has; anything else on a record came from ``extra={...}``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "taskName"}


def _stamped_factory(previous: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        if not hasattr(record, "request_id"):
            record.request_id = _REQUEST_ID.get()
        return record

    factory.portal_stamps = True  # type: ignore[attr-defined]
    return factory


def stamp_request_ids() -> None:
    """Make every new LogRecord carry the current request id (once per process)."""
    previous = logging.getLogRecordFactory()
    if not getattr(previous, "portal_stamps", False):
        logging.setLogRecordFactory(_stamped_factory(previous))


def _access_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """uvicorn.access records carry (client, method, path, http version, status)."""
    args = record.args
    if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
        return None
    client, method, path, version, status = args
    return {
        "client": str(client),
        "method": str(method),
        "path": str(path).split("?", 1)[0],
        "http_version": str(version),
        "status": status,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601 with milliseconds), level, logger,
    message, request_id, then the record's own fields (``extra={...}``; uvicorn's access
    lines as client, method, path without the query string, http_version and status)."""

    def format(self, record: logging.LogRecord) -> str:
        access = _access_fields(record)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": f"{access['method']} {access['path']} {access['status']}" if access else record.getMessage(),
            "request_id": getattr(record, "request_id", "") or _REQUEST_ID.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value
        if access:
            line.update(access)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the type only: a message can quote data
        return json.dumps(line, default=str, ensure_ascii=False)


def uvicorn_log_config(log_format: LogFormat) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for ``log_format`` (None: uvicorn's own, text)."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def configure_process(log_format: LogFormat) -> None:
    """For a command that is not the web app (the mail worker): stamped records, one handler
    on the root logger in ``log_format``."""
    stamp_request_ids()
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
