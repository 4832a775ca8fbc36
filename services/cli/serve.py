"""`cerebro serve PROCESS`: one service or worker in the foreground, as `cerebro up`, compose and Kubernetes
start it; and the link between a process and the `cerebro up` that started it."""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import signal

from cerebro.cli.commands import Command, NotInstalled, missing_dependency

# Process name -> module whose main() runs it. `cerebro up` starts them in this order.
PROCESS_MODULES: dict[str, str] = {
    "embedder": "services.embedder.main",
    "consensus": "services.consensus.main",
    "memory": "services.memory.main",
    "embeddings-worker": "services.memory.embeddings_worker",
    "reconciliation-worker": "services.memory.reconciliation_worker",
    "gateway": "services.gateway.main",
}
# The install extra each process needs (pyproject.toml): the model stack for the embedder, else the server's.
PROCESS_EXTRAS = {"embedder": "embedder"}

SUPERVISOR_PID_VARIABLE = "CEREBRO_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1


def exit_with_supervisor() -> None:
    """In a process `cerebro up` started: get SIGTERM from the kernel if `cerebro up` dies outright.

    Called by the child itself first thing (not as a `preexec_fn`, which is unsafe in a parent with
    threads: gRPC's and the supervisor's own).
    """
    supervisor = os.environ.get(SUPERVISOR_PID_VARIABLE)
    if supervisor is None:
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it died before the line above took effect
        raise SystemExit(1)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("process", choices=sorted(PROCESS_MODULES), help="the process to run")


def run(args: argparse.Namespace) -> int:
    exit_with_supervisor()
    try:
        module = importlib.import_module(PROCESS_MODULES[args.process])
    except ModuleNotFoundError as error:
        missing = missing_dependency(error)
        if missing is None:
            raise
        return NotInstalled(f"serve {args.process}", PROCESS_EXTRAS.get(args.process, "server"), missing)(args)
    module.main()
    return 0


COMMAND = Command(
    help="run one service or worker in the foreground (what `cerebro up` starts)", arguments=_arguments, run=run
)
