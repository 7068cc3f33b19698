"""``--log-format``: text for people, JSON lines with stable keys for shippers; a traceback stays inside
its line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

import pytest

from probe.cli import build_parser
from probe.cli.logformat import STABLE_KEYS, JsonFormatter, configure_logging, formatter, json_logging, tell
from probe.hops import Hop

CREATED = 1_767_225_600.25  # 2026-01-01T00:00:00.250Z


def record(message: str = "verdict %s: route=%s", *args: object, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "kanari.verdict", logging.WARNING, __file__, 1, message, args or ("lost", "x"), None
    )
    made.created = CREATED
    for key, value in fields.items():
        setattr(made, key, value)
    return made


def line(formatted: logging.LogRecord) -> dict[str, object]:
    text = JsonFormatter().format(formatted)
    assert "\n" not in text
    parsed: dict[str, object] = json.loads(text)
    return parsed


def test_a_json_line_has_the_stable_keys_first_then_the_fields() -> None:
    parsed = line(record(canary_id="c1", hop=Hop.REGISTERED, hops={"accepted": "t"}, owners={"vendor"}))
    assert list(parsed)[:4] == list(STABLE_KEYS)
    assert parsed == {
        "time": "2026-01-01T00:00:00.250Z",
        "level": "WARNING",
        "logger": "kanari.verdict",
        "message": "verdict lost: route=x",
        "canary_id": "c1",
        "hop": "registered",  # an enum is its value
        "hops": {"accepted": "t"},
        "owners": ["vendor"],  # a set a sorted list
    }


def test_a_field_named_like_a_stable_key_does_not_replace_it() -> None:
    parsed = line(record(level="mine", time="noon"))
    assert (parsed["level"], parsed["time"]) == ("WARNING", "2026-01-01T00:00:00.250Z")
    assert (parsed["extra_level"], parsed["extra_time"]) == ("mine", "noon")


def test_a_traceback_is_one_key_of_one_line() -> None:
    try:
        raise RuntimeError("clock broke")
    except RuntimeError:
        logger = logging.getLogger("kanari.test.logformat")
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.exception("prune failed", stack_info=True)
        finally:
            logger.removeHandler(handler)
            logger.propagate = True
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    parsed = json.loads(lines[0])
    assert parsed["message"] == "prune failed"
    assert parsed["exception"].startswith("Traceback (most recent call last):")
    assert parsed["exception"].endswith("RuntimeError: clock broke")
    assert parsed["stack"].startswith("Stack (most recent call last):")


def test_uvicorn_colour_copies_are_dropped() -> None:
    assert "color_message" not in line(record(color_message="\x1b[32mstarted\x1b[0m"))


def test_text_keeps_the_readable_message_only() -> None:
    text = formatter("text").format(record(canary_id="c1"))
    assert text.endswith(" WARNING kanari.verdict: verdict lost: route=x")
    assert "c1" not in text


def test_the_option_takes_text_or_json_and_names_anything_else(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["status"]).log_format == "text"
    assert parser.parse_args(["--log-format", "json", "status"]).log_format == "json"
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--log-format", "xml", "status"])
    assert exited.value.code == 2
    assert (
        "argument --log-format: invalid choice: 'xml' (choose from 'text', 'json')" in capsys.readouterr().err
    )


@contextlib.contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's handlers, as a fresh process has it; restored after. (A context
    manager, not a fixture: pytest adds its capturing handlers after the fixtures are set up.)"""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    chatty = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler")}
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = handlers
        root.setLevel(level)
        for name, was in chatty.items():
            logging.getLogger(name).setLevel(was)


def test_configure_logging_writes_json_lines_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root():
        configure_logging("INFO", "json")
        logging.getLogger("kanari.verdict").warning("verdict %s", "lost", extra={"canary_id": "c1"})
        logging.getLogger("httpx").info("HTTP Request: GET https://example/ 200")  # only at DEBUG
        logging.getLogger("kanari.verdict").debug("not at INFO")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    parsed = json.loads(lines[0])
    assert (parsed["message"], parsed["canary_id"], parsed["level"]) == ("verdict lost", "c1", "WARNING")


def test_configure_logging_leaves_a_configured_root_alone() -> None:
    stream = io.StringIO()
    with bare_root() as root:
        root.addHandler(logging.StreamHandler(stream))
        configure_logging("DEBUG", "json")
        assert len(root.handlers) == 1
        assert not isinstance(root.handlers[0].formatter, JsonFormatter)


def test_tell_prints_for_people_and_logs_a_json_line_for_shippers(capsys: pytest.CaptureFixture[str]) -> None:
    tell("warning: municipalities/x.yaml.orig: not read")
    assert capsys.readouterr().err == "warning: municipalities/x.yaml.orig: not read\n"
    with bare_root():
        configure_logging("INFO", "json")
        assert json_logging()
        tell("configuration in c is not valid:\n  kanari.yaml:3: ...", level=logging.ERROR, problems=["p"])
    [line] = capsys.readouterr().err.splitlines()  # one line, the message's own line break escaped
    parsed = json.loads(line)
    assert (parsed["level"], parsed["logger"], parsed["problems"]) == ("ERROR", "kanari.cli", ["p"])
    assert parsed["message"] == "configuration in c is not valid:\n  kanari.yaml:3: ..."
    assert not json_logging()  # pytest's own handlers are back
