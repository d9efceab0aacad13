"""snmpsim's responder-lite on pysnmp 7: one process serving many lab devices.

responder-lite picks a device's data by the endpoint a request arrived on (data file
`<community>/1.3.6.1.6.1.1.<N>.snmprec` for the N-th `--agent-udpv4-endpoint`), which the full
responder cannot do for v2c. In snmpsim 1.2.2 it crashes on pysnmp 7, which renamed the
camelCase APIs it calls. This shim adds the old names as aliases of the new ones and the
lite controller calls the full responder's controller lacks, then runs responder-lite
unchanged:

    python -m borderwatch.lab.lite <snmpsim-command-responder-lite options>

Aliases: AsyncioDispatcher.registerTransport/registerRecvCbFun/jobStarted/runDispatcher/
closeDispatcher → register_transport/register_recv_callback/job_started/run_dispatcher/
close_dispatcher; api.protoModules → api.PROTOCOL_MODULES; apiPDU.setErrorStatus/
setErrorIndex → set_error_status/set_error_index; MibInstrumController.readVars/
readNextVars/writeVars → DataFile.process_var_binds (the full responder's read_variables
needs a pysnmp engine context that responder-lite does not have). The "index" community
of responder-lite stays disabled (it would reveal the data file names, i.e. the community).
One setting changes: every device's data file stays open (snmpsim's default keeps 31).
"""

from __future__ import annotations

import sys
from typing import Any

OPEN_DATA_FILES = 400  # devices whose data stay open (snmpsim's default: 31)
DISPATCHER_ALIASES = {
    "registerTransport": "register_transport",
    "registerRecvCbFun": "register_recv_callback",
    "jobStarted": "job_started",
    "runDispatcher": "run_dispatcher",
    "closeDispatcher": "close_dispatcher",
}


def _alias(cls: type, old: str, new: str) -> None:
    if old in vars(cls):
        return
    for klass in cls.__mro__:
        if new in vars(klass):
            # The raw descriptor, so that a staticmethod stays one (PDUAPI's setters are).
            setattr(cls, old, vars(klass)[new])
            return


def patch() -> None:
    """Install the pysnmp 6-style names responder-lite calls (idempotent)."""
    from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
    from pysnmp.proto import api
    from snmpsim import controller, datafile

    for old, new in DISPATCHER_ALIASES.items():
        _alias(AsyncioDispatcher, old, new)
    if not hasattr(api, "protoModules"):
        api.protoModules = api.PROTOCOL_MODULES  # type: ignore[attr-defined]
    for module in api.PROTOCOL_MODULES.values():
        pdu_api = type(module.apiPDU)
        _alias(pdu_api, "setErrorStatus", "set_error_status")
        _alias(pdu_api, "setErrorIndex", "set_error_index")

    def _vars(next_flag: bool, set_flag: bool) -> Any:
        def method(self: Any, var_binds: Any, **context: Any) -> Any:
            return self._data_file.process_var_binds(
                var_binds, nextFlag=next_flag, setFlag=set_flag, **context)
        return method

    mib = controller.MibInstrumController
    if "readVars" not in vars(mib):
        mib.readVars = _vars(False, False)  # type: ignore[attr-defined]
        mib.readNextVars = _vars(True, False)  # type: ignore[attr-defined]
        mib.writeVars = _vars(False, True)  # type: ignore[attr-defined]
    # DataIndexInstrumController gets no aliases on purpose: its "index" community would list
    # the data files, whose names are the lab community. Requests to it are dropped.

    # snmpsim keeps at most 31 data files open and reopens (index and text) on every request
    # to another one: with the lab's devices polled round robin from one process, that is
    # every request. Two descriptors per device are cheap.
    datafile.DataFile.max_queue_entries = max(datafile.DataFile.max_queue_entries,
                                              OPEN_DATA_FILES)


def main() -> int:
    """Patch, then run snmpsim-command-responder-lite with this process's arguments."""
    patch()
    from snmpsim.commands import responder_lite

    return int(responder_lite.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
