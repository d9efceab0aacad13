"""`borderwatch_shard_info`: which shard of the inventory this collector polls.

With `run --shard i/n` each collector exports only its own sites' series; this constant
series tells an operator (and a PromQL check of coverage) which shard an instance is,
e.g. `count by (shards) (borderwatch_shard_info)` should equal `shards`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from borderwatch.collector.shard import Shard

SHARD_INFO = "borderwatch_shard_info"


class ShardInfoCollector:
    """A prometheus_client custom collector with one constant series for the shard."""

    def __init__(self, shard: Shard) -> None:
        self._shard = shard

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(SHARD_INFO, "", labels=("shard", "shards"))]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            SHARD_INFO, "This collector polls shard `shard` of `shards` (run --shard); "
            "value 1.", labels=("shard", "shards"))
        family.add_metric((str(self._shard.index), str(self._shard.count)), 1.0)
        yield family
