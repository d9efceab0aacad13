"""`borderwatch run --shard i/n`: which sites one collector of n polls.

A site belongs to shard `1 + sha256(site id) mod n`: a hash of the id alone, so every
process, host and Python version agrees (Python's `hash()` of a str is salted per
process), a site's devices always stay together, and adding a site moves no other one.
Changing n moves about (n-1)/n of the sites, as any modulo split does.

A shard's inventory is the whole file cut down to its sites: links with an end elsewhere
are dropped (their other end is polled by another shard; the central evaluator joins the
two, see alerts/tsdb_source.py), and so is the `alerts:` section, since a shard sees
only part of the topology and would page on that partial view (a site behind another
shard's hub looks down, not isolated).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from borderwatch.collector.inventory import Inventory

log = logging.getLogger(__name__)

_SHARD = re.compile(r"(\d{1,6})/(\d{1,6})")


def shard_of(site_id: str, count: int) -> int:
    """The shard (1..count) of a site: a stable hash of its id, never Python's hash()."""
    digest = hashlib.sha256(site_id.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based, as `--shard 1/3` reads)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, site_id: str) -> bool:
        """True if this shard polls the site."""
        return shard_of(site_id, self.count) == self.index

    def select(self, inventory: Inventory) -> Inventory:
        """The inventory cut down to this shard's sites, their links and no `alerts:`."""
        sites = tuple(s for s in inventory.sites if self.owns(s.id))
        kept = {s.id for s in sites}
        links = tuple(lk for lk in inventory.links if lk.a.site in kept and lk.b.site in kept)
        part = inventory.model_copy(update={"sites": sites, "links": links, "alerts": None})
        part.model_post_init(None)  # the device index follows the sites (model_copy keeps it)
        return part


def shard_inventory(shard: Shard, inventory: Inventory,
                    reload_from: Callable[[], Inventory]
                    ) -> tuple[Inventory, Callable[[], Inventory]]:
    """The shard's part of the inventory, and a reload that cuts the new file the same way;
    logs what the shard polls and, once, that its alerting is off."""
    part = shard.select(inventory)
    log.info("shard %s: polling %d of %d sites (%d of %d devices)", shard, len(part.sites),
             len(inventory.sites), len(part.devices), len(inventory.devices))
    if not part.sites:
        log.warning("shard %s: no site of this inventory hashes to this shard: nothing to "
                    "poll", shard)
    if inventory.alerts is not None:
        log.warning("shard %s: alerting is off in a shard (its view of the topology is "
                    "partial and would page wrongly); run `borderwatch alerts --source "
                    "prometheus URL` on the central TSDB to evaluate the alerts", shard)
    return part, lambda: shard.select(reload_from())


def parse_shard(text: str) -> Shard:
    """`i/n` with 1 <= i <= n, or ValueError saying what is expected."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r}: expected i/n, e.g. 1/3 (shard i of n, counted from 1)")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ValueError(f"{text!r}: n must be at least 1")
    if not 1 <= index <= count:
        raise ValueError(f"{text!r}: i must be between 1 and {count} (shards count from 1)")
    return Shard(index, count)


def _shard_arg(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_shard_option(parser: argparse.ArgumentParser) -> None:
    """`run --shard i/n`."""
    parser.add_argument(
        "--shard", type=_shard_arg, metavar="I/N",
        help="poll only the sites of shard I of N (1 <= I <= N; a site's shard is a hash "
        "of its id, its devices stay together). Alerting is off in a shard: run "
        "`borderwatch alerts --source prometheus URL` on the central TSDB instead "
        "(docs/deployment.md)")
