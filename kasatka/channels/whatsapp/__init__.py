"""WhatsApp through Meta's Cloud API: free text in the 24-hour window, templates outside it."""
