"""Models of kasatka.exports."""
