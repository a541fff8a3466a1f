"""Starts ipykernel so that the sandbox can be checkpointed.

gVisor (the runsc build we use) cannot checkpoint a listening TCP endpoint, so
the kernel must open none. ipykernel 6.x opens two even with transport "ipc":
  - the IOPub pipe for output of forked subprocesses
    (IOPubThread._setup_pipe_in binds tcp://127.0.0.1): rebound to ipc:// here;
  - the debugger socket when debugpy is importable: debugpy is made
    unimportable (no debugging inside Quire kernels).
Everything else comes from the connection file (transport "ipc").

Usage: python quire_kernel_launcher.py -f /tmp/quire-kernel/connection.json [--preload numpy,pandas]
"""

import os
import sys

sys.modules["debugpy"] = None  # `import debugpy` now raises ImportError

import zmq  # noqa: E402
from ipykernel import iostream  # noqa: E402
from zmq.eventloop.zmqstream import ZMQStream  # noqa: E402

PIPE_DIR = os.environ.get("QUIRE_KERNEL_RUNTIME_DIR", "/tmp/quire-kernel")


def _setup_pipe_in(self):
    ctx = self.socket.context
    self._pipe_uuid = os.urandom(16)
    pipe_in = ctx.socket(zmq.PULL)
    pipe_in.linger = 0
    self._pipe_port = os.path.join(PIPE_DIR, "iopub-pipe-%d" % os.getpid())
    pipe_in.bind("ipc://" + self._pipe_port)
    self._pipe_in = ZMQStream(pipe_in, self.io_loop)
    self._pipe_in.on_recv(self._handle_pipe_msg)


def _setup_pipe_out(self):
    ctx = zmq.Context()
    pipe_out = ctx.socket(zmq.PUSH)
    pipe_out.linger = 3000
    pipe_out.connect("ipc://" + self._pipe_port)
    return ctx, pipe_out


iostream.IOPubThread._setup_pipe_in = _setup_pipe_in
iostream.IOPubThread._setup_pipe_out = _setup_pipe_out


def main(argv):
    preload = []
    if "--preload" in argv:
        i = argv.index("--preload")
        preload = [m for m in argv[i + 1].split(",") if m]
        argv = argv[:i] + argv[i + 2 :]
    # Warm-pool kernels import the heavy libraries before anyone asks.
    for name in preload:
        __import__(name)
    from ipykernel.kernelapp import IPKernelApp

    # Completions from the live namespace (dir(), dict and DataFrame keys, paths), not jedi's
    # static analysis: jedi's first completion in a sandbox takes seconds (it imports and
    # parses), too slow for a popup while typing; static completions are the language server's.
    IPKernelApp.launch_instance(
        argv=argv + ["--IPKernelApp.extensions=['quire_ipython']", "--IPCompleter.use_jedi=False"]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
