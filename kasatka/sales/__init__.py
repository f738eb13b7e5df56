"""Visits, purchases and lead sources: what happened between a business and a client."""
