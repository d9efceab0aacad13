"""Fixtures of the SNMP layer tests: a loopback transport and evil agents that clean up.

Not a conftest.py: tests/test_servers.py imports tests/conftest.py as `conftest`, and a second
conftest module here would shadow it. Test modules import these fixtures by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fakes.evil_agent import EvilAgent, Scenario

from collector.snmp.transport import SnmpTransport


@pytest.fixture
async def transport() -> AsyncIterator[SnmpTransport]:
    """The shared v1/v2c transport, bound to loopback as tests must be."""
    t = await SnmpTransport.create(max_in_flight=64, local_address="127.0.0.1")
    try:
        yield t
    finally:
        await t.close()


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
