"""Log lines (portal/logs.py): the request id and the JSON format."""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys

import pytest

from portal.logs import (
    JsonFormatter,
    configure_process,
    current_request_id,
    request_context,
    request_id_from,
    stamp_request_ids,
    uvicorn_log_config,
)


@pytest.mark.parametrize("header", ["0123456789abcdef0123456789abcdef", "nginx-5f2a9c01", "a.b_c-d1", "x" * 64])
def test_a_safe_request_id_is_believed(header):
    assert request_id_from(header) == header


@pytest.mark.parametrize("header", [None, "", "short", "x" * 65, "has space 123", "new\nline-1234", "q?uery=12345"])
def test_anything_else_gets_a_new_id(header):
    made = request_id_from(header)
    assert re.fullmatch(r"[0-9a-f]{32}", made) and made != header


def test_the_context_sets_and_restores_the_id():
    assert current_request_id() == ""
    with request_context("outer-123456"):
        with request_context("inner-123456"):
            assert current_request_id() == "inner-123456"
        assert current_request_id() == "outer-123456"
    assert current_request_id() == ""


def _record(name: str, msg: str, args: tuple = (), **extra) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, logging.INFO, __file__, 1, msg, args, None, extra=extra or None)


def test_a_line_is_one_json_object_with_the_request_id_and_the_fields():
    stamp_request_ids()
    with request_context("req-abcdef12"):
        record = _record("portal.mail.worker", "outbox message %s (%s) sent", (7, "user_id"), outbox_id=7)
    line = JsonFormatter().format(record)  # formatted later, elsewhere: the id came with the record
    assert "\n" not in line
    parsed = json.loads(line)
    assert list(parsed)[:5] == ["time", "level", "logger", "message", "request_id"]
    assert parsed["message"] == "outbox message 7 (user_id) sent"
    assert parsed["request_id"] == "req-abcdef12"
    assert parsed["outbox_id"] == 7 and parsed["level"] == "INFO" and parsed["logger"] == "portal.mail.worker"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", parsed["time"])


def test_an_access_line_has_its_parts_and_never_the_query_string():
    record = _record(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/recover/reset?token=secret-token-1", "1.1", 200),
    )
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["message"] == "GET /recover/reset 200"
    assert parsed["path"] == "/recover/reset" and parsed["status"] == 200 and parsed["method"] == "GET"
    assert "secret-token-1" not in json.dumps(parsed)


def test_an_exception_is_named_by_its_type_only():
    try:
        raise ValueError("the SSN 123-45-6789 was refused")
    except ValueError:
        record = logging.getLogger("portal").makeRecord(
            "portal", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["exception"] == "ValueError" and "123-45-6789" not in json.dumps(parsed)


def test_uvicorn_gets_json_formatters_only_when_asked():
    assert uvicorn_log_config("text") is None
    config = uvicorn_log_config("json")
    assert config is not None
    assert config["formatters"]["json"]["()"] is JsonFormatter
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["access"]
    logging.config.dictConfig(config)  # a valid configuration


def test_a_command_logs_json_when_asked(capsys):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_process("json")
    try:
        with request_context("cli-12345678"):
            logging.getLogger("portal.mail.worker").info("mail worker started")
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert json.loads(err)["request_id"] == "cli-12345678"
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
