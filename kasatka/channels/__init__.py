"""Delivery channels: one package per channel on a shared base, and their registry."""
