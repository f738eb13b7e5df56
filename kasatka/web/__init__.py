"""Server-rendered pages of the web UI and the public unsubscribe page."""
