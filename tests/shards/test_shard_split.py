"""`run --shard i/n`: the split by site (pure: the hash and the cut-down inventory)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.shard import Shard, parse_shard, shard_of

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("site", "count"), [("core", 3), ("hub-dongdang", 3),
                                               ("bp-bacxa", 7), ("Đồn-1", 2)])
def test_a_site_s_shard_is_sha256_of_its_id_mod_n(site: str, count: int) -> None:
    # the definition the docs give, spelled out independently
    digest = hashlib.sha256(site.encode()).hexdigest()
    assert shard_of(site, count) == 1 + int(digest[:16], 16) % count


def test_the_repository_inventory_splits_into_shards_that_cover_it_once() -> None:
    inventory = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
    parts = [Shard(i, 3).select(inventory) for i in (1, 2, 3)]
    devices = [d.id for p in parts for d in p.devices]
    assert sorted(devices) == sorted(d.id for d in inventory.devices)  # once each
    for part in parts:
        assert part.alerts is None  # a shard never pages on its partial view
        sites = {s.id for s in part.sites}
        assert sites  # 3 shards of this inventory: none empty
        for device in part.devices:  # devices stay with their site
            assert part.site_of(device).id == inventory.site_of(device).id
            assert part.effective(device) == inventory.effective(device)
        assert all(lk.a.site in sites and lk.b.site in sites for lk in part.links)
    # a link with both ends in one shard stays; one across shards is in no shard's part
    kept = {lk.id for p in parts for lk in p.links}
    across = {lk.id for lk in inventory.links if shard_of(lk.a.site, 3) != shard_of(lk.b.site, 3)}
    assert kept == {lk.id for lk in inventory.links} - across


@pytest.mark.parametrize(("text", "message"), [
    ("0/3", "'0/3': i must be between 1 and 3 (shards count from 1)"),
    ("4/3", "'4/3': i must be between 1 and 3 (shards count from 1)"),
    ("1/0", "'1/0': n must be at least 1"),
    ("one/3", "'one/3': expected i/n, e.g. 1/3 (shard i of n, counted from 1)"),
    ("1/3/2", "'1/3/2': expected i/n, e.g. 1/3 (shard i of n, counted from 1)"),
])
def test_bad_shard_text_says_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_shard(text)
    assert str(err.value) == message


def test_shard_text_round_trips() -> None:
    assert parse_shard(" 2/5 ") == Shard(2, 5)
    assert str(Shard(2, 5)) == "2/5"


def test_a_reload_cuts_the_new_file_the_same_way(caplog: pytest.LogCaptureFixture) -> None:
    """SIGHUP and POST /-/reload load the whole file again: the shard keeps only its part,
    and says once at start that its alerting is off."""
    from borderwatch.collector.shard import shard_inventory

    inventory = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
    with caplog.at_level("INFO", logger="borderwatch.collector.shard"):
        part, reload = shard_inventory(Shard(2, 3), inventory, lambda: inventory)
    assert [s.id for s in reload().sites] == [s.id for s in part.sites] == [
        s.id for s in inventory.sites if shard_of(s.id, 3) == 2]
    assert reload().alerts is None
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (f"shard 2/3: polling {len(part.sites)} of {len(inventory.sites)} "
                           f"sites ({len(part.devices)} of {len(inventory.devices)} devices)")
    assert inventory.alerts is not None  # the repository inventory alerts: the shard does not
    assert messages[1].startswith("shard 2/3: alerting is off in a shard")
