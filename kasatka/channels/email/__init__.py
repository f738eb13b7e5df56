"""The e-mail channel over Django's e-mail backends (SMTP by default)."""
