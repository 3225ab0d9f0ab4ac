"""Logging for every part: plain lines for people, or one JSON object per line for a collector.

Pupil identities (user names, device names, client addresses) are logged only at DEBUG: at the
default level a log line says what happened and which rule, never who. Events in the store are
where identities live, behind the console's role checks.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        data.update({k: v for k, v in extra.items() if k not in data})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def setup_logging(level: str = "info", *, as_json: bool = False, part: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        prefix = f"{part}: " if part else ""
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # mitmproxy logs every client connection with the client's address at INFO, and aiohttp's
    # access log the same: both are pupil identities, so they speak only when asked (debug).
    quiet = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    for name in ("mitmproxy", "aiohttp.access"):
        logging.getLogger(name).setLevel(quiet)
