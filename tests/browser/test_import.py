"""The owner imports a client list on a phone, in a real browser: upload, map, progress, report."""

from __future__ import annotations

import pytest

from kasatka.contacts.models import Contact
from kasatka.engine.background import run_ready_tasks
from kasatka.imports.models import ImportJob, ImportState

from .conftest import assert_fits_the_screen, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FILE = (
    "Фамилия;Имя;Телефон;Почта;Рассылка;Комментарий\r\n"
    "Петрова;Анна;8 (916) 123-45-67;anna@example.ru;да;постоянная клиентка, очень длинный "
    "комментарий, который не должен растягивать страницу шире экрана телефона\r\n"
    "Петрова;Анна;+7 916 1234567;;да;повтор\r\n"
    "Сидоров;Пётр;12-34;;;плохой номер\r\n"
).encode("cp1251")


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.KASATKA_IMPORTS = {**settings.KASATKA_IMPORTS, "DIR": tmp_path, "PROCESSES": 1}


def test_the_owner_imports_a_file_and_reads_the_report(small_phone, owner, shop, tmp_path):
    page = small_phone
    path = tmp_path / "клиенты.csv"
    path.write_bytes(FILE)
    sign_in(page, "olga", then="/imports/")
    assert_fits_the_screen(page)
    page.select_option("#import-kind", "contacts")
    page.set_input_files("#import-file", str(path))
    with page.expect_navigation():
        page.click("#import-upload button[type=submit]")

    # The mapping step: the columns guessed from their names, the first rows shown.
    assert page.locator("#column-2").input_value() == "phone"
    assert page.locator("#column-4").input_value() == "consent"
    assert page.locator("table.preview").inner_text().count("Петрова") == 2
    page.select_option("#column-5", "")  # the comment is not imported
    assert_fits_the_screen(page)
    screenshot(page, "import-mapping")
    with page.expect_navigation():
        page.click("#import-start")

    job = ImportJob.objects.get()
    assert job.state == ImportState.QUEUED
    assert page.locator("#import-progress").get_attribute("data-state") == "queued"
    run_ready_tasks()  # the task worker's turn; the page polls and sees the end
    page.wait_for_selector("#import-progress[data-state=done]", timeout=10_000)

    assert page.locator("[data-count=created]").inner_text() == "1"
    assert page.locator("[data-count=merged]").inner_text() == "1"
    assert page.locator("[data-count=rejected]").inner_text() == "1"
    assert page.locator("tr[data-line='4']").get_attribute("data-code") == "phone"
    assert page.locator("progress").get_attribute("value") == "100"
    assert_fits_the_screen(page)
    screenshot(page, "import-report")
    assert Contact.objects.get(business=shop).addresses.count() == 2
