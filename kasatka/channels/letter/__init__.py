"""The printed letter channel: a touch becomes a letter in the shop's print queue."""
