"""Models of kasatka.imports."""
