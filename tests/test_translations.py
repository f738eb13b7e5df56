"""Russian is complete: every string of the code is in the catalogue, translated, compiled."""

from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest
from django.core.management import call_command

import kasatka

PACKAGE = Path(kasatka.__file__).parent
CATALOGUES = [
    PACKAGE / "locale" / "ru" / "LC_MESSAGES" / "django.po",
    PACKAGE / "insights" / "locale" / "ru" / "LC_MESSAGES" / "django.po",
]


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_entry_is_translated_and_compiled(po_path):
    po = polib.pofile(str(po_path))
    assert not po.untranslated_entries(), [e.msgid for e in po.untranslated_entries()][:20]
    assert not po.fuzzy_entries(), [e.msgid for e in po.fuzzy_entries()][:20]
    compiled = polib.mofile(str(po_path.with_suffix(".mo")))
    translated = {
        (e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in po.translated_entries()
    }
    in_mo = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in compiled}
    stale = [k[1] for k, v in translated.items() if in_mo.get(k) != v]
    assert not stale, f"the .mo is older than the .po (run compilemessages): {stale[:10]}"


# The code each catalogue covers: the main one all but the insights app, which has its own.
CODE = [
    pytest.param(PACKAGE, ["insights/*"], CATALOGUES[0], id="kasatka"),
    pytest.param(PACKAGE / "insights", [], CATALOGUES[1], id="kasatka/insights"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("code", "ignore", "po_path"), CODE)
def test_every_string_of_the_code_is_in_the_catalogue(
    code, ignore, po_path, tmp_path, settings, monkeypatch
):
    """makemessages over a copy of the code finds no msgid the catalogue lacks."""
    if shutil.which("xgettext") is None:
        pytest.fail("xgettext is missing: scripts/install.sh --test installs gettext")
    copy = tmp_path / code.name
    shutil.copytree(code, copy, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    (copy / "locale").mkdir()
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["ru"], ignore_patterns=ignore, verbosity=0)
    found = polib.pofile(str(copy / "locale" / "ru" / "LC_MESSAGES" / "django.po"))
    assert len(found) > 0, "makemessages found no string at all: is the copy right?"
    known = {(e.msgctxt, e.msgid) for e in polib.pofile(str(po_path))}
    missing = sorted(e.msgid for e in found if (e.msgctxt, e.msgid) not in known)
    assert not missing, f"{len(missing)} strings are not in the catalogue: {missing[:20]}"
