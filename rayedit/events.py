"""Structured job events on stderr: one JSON object per line (``--log-format json``) for schedulers and log
pipelines, or short ``rayedit: ...`` text lines. stdout stays for the summary and its final JSON line.

Every event has ``ts`` (UTC, ISO 8601), ``level`` and ``event``; the fields depend on the event:
``job_start``, ``shard_committed``, ``job_end``, ``job_failed``, ``warning``.
"""

from __future__ import annotations

import json
import logging
import sys
import time

LOG_FORMATS = ("text", "json")
_LOGGER = logging.getLogger("rayedit.events")
_LOGGER.propagate = False


class _Stderr(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is at the time (so redirection and capture work)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class JsonLines(logging.Formatter):
    """A log record as one JSON object: ts, level, event and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        body = {"ts": ts, "level": record.levelname.lower(), "event": record.msg, **getattr(record, "fields", {})}
        return json.dumps(body, default=str)


class TextLines(logging.Formatter):
    """A log record as ``rayedit: EVENT key=value ...`` (a warning's message is shown as it is)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", {}))
        if record.msg == "warning":
            return f"rayedit: warning: {fields.pop('message', '')}"
        pairs = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"rayedit: {record.msg.replace('_', ' ')} {pairs}".rstrip()


def configure(log_format: str = "text", verbose: bool = False) -> None:
    """Send events to stderr in ``log_format``. JSON shows every event; text shows warnings and failures, and
    the per-shard events too when ``verbose`` (e.g. with --no-progress, where no bar shows progress)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {', '.join(LOG_FORMATS)}")
    handler = _Stderr()
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    _LOGGER.handlers[:] = [handler]
    _LOGGER.setLevel(logging.INFO if log_format == "json" or verbose else logging.WARNING)


def emit(event: str, level: int = logging.INFO, **fields) -> None:
    """Log one event with its fields (values must be JSON-serialisable or have a useful str())."""
    _LOGGER.log(level, event, extra={"fields": fields})


def process_age() -> float:
    """Seconds since this process started (interpreter start-up and imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def warn(message: str, **fields) -> None:
    """A warning event (``message`` plus any fields)."""
    emit("warning", logging.WARNING, message=message, **fields)


configure()
