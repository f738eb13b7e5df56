"""Imports keep their uploaded files in a folder of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path: Path) -> Path:
    folder = tmp_path / "imports"
    settings.KASATKA_IMPORTS = {**settings.KASATKA_IMPORTS, "DIR": folder, "PROCESSES": 1}
    return folder
