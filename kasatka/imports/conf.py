"""The import settings (`KASATKA_IMPORTS` in kasatka/settings.py), typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings


def _values() -> dict[str, Any]:
    values: dict[str, Any] = settings.KASATKA_IMPORTS
    return values


def folder() -> Path:
    """Where uploaded files wait for their import."""
    return Path(_values()["DIR"])


def number(name: str) -> int:
    """BATCH_ROWS, MAX_UPLOAD_MB, PREVIEW_ROWS or PROCESSES."""
    return int(_values()[name])
