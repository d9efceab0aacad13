"""The emulated link profiles (tests/fakes/link_emulation.py): what they set, without root.
The nftables and tbf parts run in bench/vsat_timeouts.py, which measures the ICMP loss."""

from __future__ import annotations

import random

import pytest
from fakes.link_emulation import (
    MICROWAVE_DEGRADED,
    VSAT,
    NamespaceShaping,
    apply_to_proxy,
    in_private_netns,
    nft_ruleset,
    tbf_args,
    vsat,
)
from fakes.udp_proxy import BurstLoss, Direction, UdpProxy


async def test_vsat_on_the_proxy_spans_the_round_trip_and_splits_the_loss() -> None:
    proxy = await UdpProxy.start(("127.0.0.1", 9), seed=1)
    try:
        apply_to_proxy(proxy, vsat(0.05))
        one_way = [(d.delay - d.jitter, d.delay + d.jitter) for d in (proxy.to_agent,
                                                                      proxy.to_client)]
        assert sum(lo for lo, _ in one_way) == pytest.approx(VSAT.rtt_min)
        assert sum(hi for _, hi in one_way) == pytest.approx(VSAT.rtt_max)
        survive = (1 - proxy.to_agent.drop) * (1 - proxy.to_client.drop)
        assert 1 - survive == pytest.approx(0.05)
    finally:
        proxy.close()


def test_burst_loss_comes_in_runs() -> None:
    """Same mean loss, longer runs of consecutive losses than independent drops."""
    rng = random.Random(4)
    bursty = Direction(burst=BurstLoss(0.02, 0.25, 0.0, 0.7))
    lost = [not bursty.plan(rng) for _ in range(50_000)]
    mean = sum(lost) / len(lost)
    independent = [rng.random() < mean for _ in range(50_000)]

    def longest_run(xs: list[bool]) -> int:
        best = run = 0
        for x in xs:
            run = run + 1 if x else 0
            best = max(best, run)
        return best

    assert 0.02 < mean < 0.1
    assert longest_run(lost) > 2 * longest_run(independent)


def test_nft_and_tbf_rules() -> None:
    rules = nft_ruleset(VSAT)
    # 1 - sqrt(0.95) per packet on output: a round trip (request, reply) loses 5 %
    assert "meta l4proto { icmp, ipv6-icmp } numgen random mod 1000 < 25 drop" in rules
    assert "hook output" in rules and "hook input" not in rules
    assert "jump gate" in nft_ruleset(MICROWAVE_DEGRADED)
    assert "meta l4proto" not in nft_ruleset(VSAT, protocols=())
    assert tbf_args(VSAT)[-7:] == ["tbf", "rate", "2000000bit", "burst", "32kbit", "latency",
                                   "400ms"]


def test_shaping_refuses_the_hosts_namespace() -> None:
    if in_private_netns():
        pytest.skip("running inside a private namespace")
    with pytest.raises(RuntimeError, match="host's network namespace"), NamespaceShaping(VSAT):
        pass
