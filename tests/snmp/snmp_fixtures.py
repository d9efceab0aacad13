"""Fixtures of the SNMP layer tests: evil agents that clean up (the transport is in conftest).

Not a conftest.py: tests/test_servers.py imports tests/conftest.py as `conftest`, and a second
conftest module here would shadow it. Test modules import these fixtures by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fakes.evil_agent import EvilAgent, Scenario
from fakes.udp_proxy import UdpProxy


@pytest.fixture
async def evil_agent() -> AsyncIterator[Callable[..., Awaitable[EvilAgent]]]:
    """start(scenario, host="127.0.0.2", other_host=None) → a running EvilAgent."""
    agents: list[EvilAgent] = []

    async def start(scenario: Scenario, **kwargs: object) -> EvilAgent:
        agent = await EvilAgent.start(scenario, **kwargs)  # type: ignore[arg-type]
        agents.append(agent)
        return agent

    try:
        yield start
    finally:
        for agent in agents:
            agent.close()


@pytest.fixture
async def udp_proxy() -> AsyncIterator[Callable[..., Awaitable[UdpProxy]]]:
    """start(upstream, seed=1) → a running UdpProxy in front of a real agent."""
    proxies: list[UdpProxy] = []

    async def start(upstream: tuple[str, int], **kwargs: object) -> UdpProxy:
        proxy = await UdpProxy.start(upstream, **kwargs)  # type: ignore[arg-type]
        proxies.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in proxies:
            proxy.close()
