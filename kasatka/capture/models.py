"""Models of kasatka.capture."""
