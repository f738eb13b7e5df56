"""Tenants (businesses) and their users with roles."""
