"""Kasatka: a self-hosted multi-touch sales funnel."""
