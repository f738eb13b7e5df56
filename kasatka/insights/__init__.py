"""Figures of the method: churn risk (BG/NBD), lapse, and later the owner's reports."""
