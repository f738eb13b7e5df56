"""Models of kasatka.webhooks."""
