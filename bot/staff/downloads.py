"""File downloads from the console: CSV for Excel (UTF-8 with BOM, Japanese headers) and JSON. File names carry
ids and dates only, never personal data."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from flask import Response


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 correctly only with the BOM
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _defused(v) for v in row])
    return _download(out.getvalue().encode("utf-8"), filename, "text/csv; charset=utf-8")


def json_response(filename: str, data: Any) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return _download(body, filename, "application/json; charset=utf-8")


def _defused(value: Any) -> Any:
    """A cell starting with = + - @ would run as a formula in Excel (CSV injection): prefix it with a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _download(body: bytes, filename: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
