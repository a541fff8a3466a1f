"""Quire kernel shim: PID 1 of a kernel sandbox.

Starts ipykernel (through quire_kernel_launcher.py) on sandbox-internal ipc://
sockets and relays raw ZeroMQ multipart messages between those sockets and the
host worker over this process's stdin/stdout. The frames are relayed unchanged
(still HMAC-signed by the kernel): the host speaks the Jupyter protocol itself.

Why stdio: the container's stdio pipes survive `runsc checkpoint` / `runsc
restore` (restore attaches new pipes and the process carries on), while any
host-visible socket makes checkpointing fail.

Wire format on stdin/stdout, one record per message:
    b"Q" | channel:u8 | nparts:u16 | (len:u32 | bytes) * nparts      (big endian)
channels: 0 shell, 1 control, 2 stdin, 3 iopub, 4 hb, 9 shim (JSON, see below)

Shim messages (channel 9, one JSON part):
  shim -> host: ready{kernelPid}, kernel-exited{code, signal, logTail},
                checkpoint-request{requestId}, error{message}
  host -> shim: signal{signal}, restart{}, checkpoint-done{requestId, ok, message},
                resync{token}
A resync (a restarted host worker re-opening this sandbox's named pipes) is
answered on channel 8 with one part, the token: the host drops every byte
before that record (the old reader may have consumed half a record).
"""

import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading

import zmq

SHELL, CONTROL, STDIN, IOPUB, HB, RESYNC, SHIM = 0, 1, 2, 3, 4, 8, 9
# The kernel's own folder (its ipc sockets), owned by the kernel user…
RUNTIME_DIR = os.environ.get("QUIRE_KERNEL_RUNTIME_DIR", "/tmp/quire-kernel")
# …and the shim's (connection file, kernel log, the %checkpoint socket), owned by the shim.
SHIM_DIR = os.environ.get("QUIRE_SHIM_RUNTIME_DIR", "/tmp/quire-shim")
HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_UID = int(os.environ.get("QUIRE_KERNEL_UID", "0")) or None
KERNEL_GID = int(os.environ.get("QUIRE_KERNEL_GID", "0")) or None

_out = sys.stdout.buffer
_out_lock = threading.Lock()


def log(msg):
    sys.stderr.write("quire-shim: %s\n" % msg)
    sys.stderr.flush()


def write_record(channel, parts):
    buf = bytearray(b"Q")
    buf += struct.pack(">BH", channel, len(parts))
    for p in parts:
        buf += struct.pack(">I", len(p))
        buf += p
    with _out_lock:
        # Under `python -u` stdout is a raw FileIO: one write() may take only
        # part of the record (gVisor returns short writes on a full pipe, e.g.
        # while no host worker reads it), so write until every byte is out.
        view = memoryview(buf)
        while view:
            n = _out.write(view)
            if n is None:  # would block
                select.select([], [_out], [])
                continue
            view = view[n:]
        _out.flush()


def send_shim(msg):
    write_record(SHIM, [json.dumps(msg).encode()])


def read_exact(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def stdin_reader(ctx):
    """Host -> shim records, handed to the main loop over an inproc socket (zmq sockets are not thread-safe)."""
    push = ctx.socket(zmq.PUSH)
    push.connect("inproc://from-host")
    src = sys.stdin.buffer
    while True:
        head = read_exact(src, 4)
        if head is None:
            push.send_multipart([b"\xff"])  # host closed our stdin
            return
        if head[0:1] != b"Q":
            log("bad record marker from host; dropping the connection")
            push.send_multipart([b"\xff"])
            return
        channel, nparts = struct.unpack(">BH", head[1:4])
        parts = [bytes([channel])]
        for _ in range(nparts):
            (n,) = struct.unpack(">I", read_exact(src, 4))
            parts.append(read_exact(src, n))
        push.send_multipart(parts)


class Kernel:
    def __init__(self, conn):
        self.conn = conn
        self.proc = None

    def start(self):
        self.reported = False
        path = os.path.join(SHIM_DIR, "connection.json")
        if os.path.exists(path):
            os.remove(path)  # a restart: the old file belongs to the kernel user now
        with open(path, "w") as f:
            json.dump(self.conn, f)
        if os.getuid() == 0 and KERNEL_UID:
            os.chmod(path, 0o600)
            os.chown(path, KERNEL_UID, KERNEL_GID)
        preload = os.environ.get("QUIRE_KERNEL_PRELOAD", "")
        args = [sys.executable, os.path.join(HERE, "quire_kernel_launcher.py"), "-f", path]
        if preload:
            args += ["--preload", preload]
        self.log_path = os.path.join(SHIM_DIR, "kernel.log")
        logf = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""), QUIRE_SHIM_CONTROL=CONTROL_ENDPOINT)
        # The kernel gets no stdin and never our stdout: only framed records may go there.
        # It runs as the unprivileged kernel user when we are the sandbox's root.
        drop = {}
        if os.getuid() == 0 and KERNEL_UID:
            drop = dict(user=KERNEL_UID, group=KERNEL_GID, extra_groups=[])
            env["HOME"] = "/home/jovyan"
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env, start_new_session=False, **drop)
        logf.close()

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=5):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def connect_sockets(ctx, conn, session_id):
    base = "ipc://%s-" % conn["ip"]
    socks = {}
    for channel, kind, port in (
        (SHELL, zmq.DEALER, "shell_port"),
        (CONTROL, zmq.DEALER, "control_port"),
        (STDIN, zmq.DEALER, "stdin_port"),
        (IOPUB, zmq.SUB, "iopub_port"),
        (HB, zmq.DEALER, "hb_port"),
    ):
        s = ctx.socket(kind)
        s.linger = 0
        if channel in (SHELL, STDIN):
            # Same identity on shell and stdin: the kernel routes input_request by it.
            s.setsockopt(zmq.IDENTITY, session_id)
        if kind == zmq.SUB:
            s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(base + str(conn[port]))
        socks[channel] = s
    return socks


CONTROL_ENDPOINT = "ipc://" + os.path.join(SHIM_DIR, "control")


def main():
    os.makedirs(SHIM_DIR, mode=0o711, exist_ok=True)
    os.makedirs(RUNTIME_DIR, exist_ok=True)
    if os.getuid() == 0 and KERNEL_UID:
        # The kernel (uid KERNEL_UID) binds its ipc sockets here and reads the connection file.
        os.chmod(RUNTIME_DIR, 0o700)  # chmod first: after chown it is no longer ours to change
        os.chown(RUNTIME_DIR, KERNEL_UID, KERNEL_GID)
    key = os.environ.get("QUIRE_KERNEL_KEY")
    if not key:
        log("QUIRE_KERNEL_KEY is not set")
        return 2
    conn = {
        "transport": "ipc",
        "ip": os.path.join(RUNTIME_DIR, "k"),
        "shell_port": 1,
        "iopub_port": 2,
        "stdin_port": 3,
        "control_port": 4,
        "hb_port": 5,
        "key": key,
        "signature_scheme": "hmac-sha256",
        "kernel_name": "python3",
    }
    session_id = os.environ.get("QUIRE_KERNEL_SESSION", "quire-host").encode()
    ctx = zmq.Context()
    from_host = ctx.socket(zmq.PULL)
    from_host.bind("inproc://from-host")
    control_in = ctx.socket(zmq.ROUTER)  # %checkpoint and friends, from inside the kernel
    control_path = os.path.join(SHIM_DIR, "control")
    control_in.bind(CONTROL_ENDPOINT)
    if os.getuid() == 0 and KERNEL_UID:
        os.chown(control_path, KERNEL_UID, KERNEL_GID)  # the kernel's %checkpoint connects to it
    threading.Thread(target=stdin_reader, args=(ctx,), daemon=True, name="host-reader").start()

    kernel = Kernel(conn)
    kernel.start()
    socks = connect_sockets(ctx, conn, session_id)
    by_socket = {s: ch for ch, s in socks.items()}
    pending_magic = {}  # requestId -> ROUTER identity of the asking socket
    send_shim({"type": "ready", "kernelPid": kernel.proc.pid})

    # Forwarded signals (runsc kill <id> INT reaches PID 1 = us): pass them to the kernel.
    signal.signal(signal.SIGINT, lambda *_: kernel.signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: (kernel.stop(), os._exit(0)))

    poller = zmq.Poller()
    for s in socks.values():
        poller.register(s, zmq.POLLIN)
    poller.register(from_host, zmq.POLLIN)
    poller.register(control_in, zmq.POLLIN)

    while True:
        events = dict(poller.poll(200))
        for sock in list(events):
            if sock is from_host:
                parts = from_host.recv_multipart()
                channel = parts[0][0]
                if channel == 0xFF:
                    log("host closed stdin; waiting for a restore or shutdown")
                    poller.unregister(from_host)
                    continue
                frames = parts[1:]
                if channel == SHIM:
                    msg = json.loads(frames[0])
                    kind = msg.get("type")
                    if kind == "signal":
                        kernel.signal(getattr(signal, msg.get("signal", "SIGINT")))
                    elif kind == "restart":
                        kernel.stop()
                        kernel.start()
                        send_shim({"type": "ready", "kernelPid": kernel.proc.pid, "restarted": True})
                    elif kind == "resync":
                        write_record(RESYNC, [str(msg.get("token", "")).encode()])
                    elif kind == "checkpoint-done":
                        ident = pending_magic.pop(msg.get("requestId"), None)
                        if ident is not None:
                            control_in.send_multipart([ident, json.dumps(msg).encode()])
                elif channel in socks and channel != IOPUB:
                    socks[channel].send_multipart(frames)
            elif sock is control_in:
                ident, payload = control_in.recv_multipart()
                try:
                    req = json.loads(payload)
                    pending_magic[req["requestId"]] = ident
                    send_shim(req)
                except (ValueError, KeyError):
                    control_in.send_multipart([ident, b'{"ok": false, "message": "bad request"}'])
            else:
                write_record(by_socket[sock], sock.recv_multipart())
        code = kernel.proc.poll()
        if code is not None and not kernel.reported:
            kernel.reported = True
            sig = -code if code < 0 else None
            send_shim({"type": "kernel-exited", "code": code if code >= 0 else None,
                       "signal": signal.Signals(sig).name if sig else None, "logTail": kernel.log_tail()})


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(0)
