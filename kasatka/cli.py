"""The `kasatka` command: Django's management commands plus Kasatka's own (run, worker, demo)."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kasatka.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kasatka", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
