"""The call channel: a touch becomes a call task in the owning seller's list."""
