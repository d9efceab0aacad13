"""`--traps.listen-address`: the trap receiver's address from the command line.

Precedence: the flag wins over the inventory's `traps.listen`; the rest of the `traps:`
section (engine ID, rate limits, queue) still comes from the file. Without a `traps:`
section the flag turns the receiver on with the section's defaults. A hot reload keeps the
flag's address (the reloaded file is given the same override), so a reload never moves the
listener nor asks for a restart because of it.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from borderwatch.collector.inventory import Inventory
from borderwatch.collector.inventory.models import Traps

FLAG = "--traps.listen-address"


def check_listen_address(address: str) -> str:
    """The address if it is 'ADDRESS:PORT' with a literal IP; ValueError naming the flag."""
    try:
        Traps(listen=address)
    except ValidationError as exc:
        raise ValueError(f"{FLAG}: {exc.errors()[0]['msg']}") from None
    return address


def with_listen_address(inventory: Inventory, address: str | None) -> Inventory:
    """`inventory` with the receiver on `address` (unchanged when `address` is None)."""
    if address is None:
        return inventory
    section = inventory.traps if inventory.traps is not None else Traps()
    return inventory.model_copy(update={"traps": section.model_copy(update={"listen": address})})


def overriding(load: Callable[[], Inventory], address: str | None) -> Callable[[], Inventory]:
    """A loader (the hot reload's) that applies the same override to every load."""
    if address is None:
        return load
    return lambda: with_listen_address(load(), address)
