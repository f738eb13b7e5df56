"""Real parts of the channel tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .provider_server import Answer, ProviderServer


@pytest.fixture
def server() -> Iterator[Callable[..., ProviderServer]]:
    """Starts local provider servers with scripted answers; all are stopped afterwards."""
    servers: list[ProviderServer] = []

    def start(*answers: Answer) -> ProviderServer:
        s = ProviderServer(*answers).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
