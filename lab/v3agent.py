"""snmpsim's full command responder for one SNMPv3 lab device (lab/agents.py).

snmpsim 1.2.2's full responder serves v3 on pysnmp 7 only for a context named after a data
file, and to nobody at all: pysnmp 7 calls `handle_management_operation`, not the
`handleMgmtOperation` snmpsim overrides, so snmpsim's own context choice (and its bypass of
access control) never runs. Then

- the context is looked up by name, and snmpsim has unregistered the empty one, which
  pollers and net-snmp send by default: the request is dropped without an answer;
- access control (VACM) applies, and snmpsim configures none for its v3 users: every
  variable is "authorizationError".

This shim fixes both for the lab's case of one data file per process: the empty context
name serves that file (the first one snmpsim registers), and each USM user snmpsim adds
gets read access to the whole tree at its own security level.

    python -m borderwatch.lab.v3agent <snmpsim-command-responder options>
"""

from __future__ import annotations

import sys
from typing import Any

READ_TREE = (1, 3, 6)  # the lab's data are all under iso.org.dod


def patch() -> None:
    """Install the two fixes (idempotent)."""
    from pysnmp.entity import config
    from pysnmp.entity.rfc3413.context import SnmpContext

    if getattr(SnmpContext.register_context_name, "_lab_patched", False):
        return
    register = SnmpContext.register_context_name

    def register_with_empty(self: Any, context_name: Any, mib_instrum: Any = None) -> None:
        register(self, context_name, mib_instrum)
        if mib_instrum is not None and b"" not in self.context_names:
            self.context_names[b""] = mib_instrum

    register_with_empty._lab_patched = True  # type: ignore[attr-defined]
    SnmpContext.register_context_name = register_with_empty  # type: ignore[method-assign]

    add_user = config.add_v3_user

    def add_user_with_access(engine: Any, user: Any, auth: Any = config.USM_AUTH_NONE,
                             auth_key: Any = None, priv: Any = config.USM_PRIV_NONE,
                             priv_key: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = add_user(engine, user, auth, auth_key, priv, priv_key, *args, **kwargs)
        level = ("authPriv" if priv != config.USM_PRIV_NONE else
                 "authNoPriv" if auth != config.USM_AUTH_NONE else "noAuthNoPriv")
        config.add_vacm_user(engine, 3, user, level, readSubTree=READ_TREE)
        return result

    config.add_v3_user = add_user_with_access


def main() -> int:
    """Patch, then run snmpsim-command-responder with this process's arguments."""
    patch()
    from snmpsim.commands import responder

    return int(responder.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
