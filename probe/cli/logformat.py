"""How the probe's log lines look: ``--log-format text`` for people, ``json`` for log shippers.

``json`` writes one object per line with stable keys: ``time`` (RFC 3339, UTC), ``level``, ``logger``,
``message`` (the same readable text as ``text`` shows), then every structured field the call passed with
``extra={...}`` (a verdict's ``canary_id``, ``route``, ``hop``, ``owner``, ...), and ``exception`` /
``stack`` holding a traceback as one string, so a traceback never becomes lines of its own that a
shipper would read as separate records. A field named like a stable key is kept as ``extra_<name>``
instead of replacing it.

Nothing here decides what is logged: the log calls never carry a secret (tests/reliability/test_secrets.py
and tests/e2e/test_logs.py search every line), and this module only rearranges what they carry.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from typing import Any, Literal

from probe.clock import to_rfc3339

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The keys every JSON line has, in this order.
STABLE_KEYS = ("time", "level", "logger", "message")
# What every LogRecord has whatever the call passed: not structured fields of the call. ``message`` and
# ``asctime`` are set by formatting; ``taskName`` by Python 3.12's asyncio support.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# uvicorn passes its message again with ANSI colours for its own formatter: noise in a JSON line.
_DROPPED = frozenset({"color_message"})
# Libraries that log a line per request at INFO: only shown at DEBUG (noise at 714 routes).
_CHATTY = ("httpx", "httpcore", "apscheduler")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "time": to_rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RECORD_ATTRIBUTES or key in _DROPPED:
                continue
            line[f"extra_{key}" if key in line else key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    """What a field that JSON cannot hold becomes: an enum its value, a set a sorted list, else text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(str(item) for item in value)
    return str(value)


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter for ``--log-format``."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log to stderr in ``log_format``; httpx/httpcore/apscheduler lines only at DEBUG.

    Like :func:`logging.basicConfig`, this does nothing to a root logger that already has handlers (an
    embedding program's, or pytest's), so a command run in-process keeps the caller's logging."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
    if level != "DEBUG":
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)


def json_logging() -> bool:
    """Whether the log goes out as JSON lines (``--log-format json`` took effect on the root logger)."""
    return any(isinstance(handler.formatter, JsonFormatter) for handler in logging.getLogger().handlers)


def tell(text: str, *, level: int = logging.WARNING, **fields: object) -> None:
    """A message for whoever runs the command, on stderr: printed as it is, or with ``--log-format
    json`` logged (logger ``kanari.cli``, ``fields`` as keys), so that stderr stays one JSON object per
    line for the shipper reading it."""
    if json_logging():
        logging.getLogger("kanari.cli").log(level, "%s", text, extra=fields)
    else:
        print(text, file=sys.stderr)
