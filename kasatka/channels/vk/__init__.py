"""VK community messages: messages.send and the Callback API."""
