"""`python -m kasatka …` is the `kasatka` command."""

from kasatka.cli import main

main()
