"""Exports write their files under a temporary folder, not the install's var/."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.KASATKA_EXPORTS = {**settings.KASATKA_EXPORTS, "DIR": tmp_path / "exports"}
    return tmp_path / "exports"
