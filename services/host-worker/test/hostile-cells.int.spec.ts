import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GvisorKernelSandbox, SandboxExit } from '../src/sandbox/gvisor-kernel-sandbox';
import { startKernel } from './gvisor-kernel-fixture';

jest.setTimeout(180_000);

const MiB = 1024 ** 2;
/** Host processes of gVisor sandboxes (runsc runs them as `nobody`); other work on the machine does not count. */
const sandboxProcesses = () => Number(execSync('ps -u nobody --no-headers | wc -l').toString());

function exited(sandbox: GvisorKernelSandbox): Promise<SandboxExit> {
  return new Promise((resolve) => {
    sandbox.onExit = resolve;
  });
}

async function stdoutOf(sandbox: GvisorKernelSandbox, code: string): Promise<string> {
  const { outputs } = await sandbox.client.execute(code);
  return outputs
    .filter((o) => o.header.msg_type === 'stream')
    .map((o) => String(o.content.text))
    .join('');
}

describe('hostile cells are contained; the host is unharmed', () => {
  const started: GvisorKernelSandbox[] = [];

  afterAll(async () => {
    for (const s of started) await s.terminate().catch(() => undefined);
  });

  it('cannot read host files, other volumes, or escape through /proc; has no network; /tmp is capped; cannot kill PID 1', async () => {
    // A second user's volume on the same host, with a secret in it.
    const otherVolume = mkdtempSync('/tmp/quire-other-volume-');
    writeFileSync(join(otherVolume, 'secret.txt'), 'not yours');
    const ownVolume = mkdtempSync('/tmp/quire-own-volume-');
    const { sandbox } = await startKernel({ limits: { tmpBytes: 64 * MiB }, homeVolumeDir: ownVolume });
    started.push(sandbox);
    const probe = `
import os, socket, errno, json
res = {}
def attempt(name, fn):
    try:
        res[name] = fn()
    except OSError as e:
        res[name] = errno.errorcode.get(e.errno, str(e.errno))
attempt("etc_shadow", lambda: open("/etc/shadow").read()[:5])
attempt("proc_1_root", lambda: os.listdir("/proc/1/root"))
attempt("proc_1_root_shadow", lambda: open("/proc/1/root/etc/shadow").read()[:5])
attempt("proc_self_root_shadow", lambda: open("/proc/self/root/etc/shadow").read()[:5])
attempt("host_root_home", lambda: os.listdir("/root"))
attempt("other_volume", lambda: open("${otherVolume}/secret.txt").read())
attempt("tcp_host_loopback", lambda: socket.create_connection(("127.0.0.1", 22), timeout=2) and "CONNECTED")
attempt("tcp_internet", lambda: socket.create_connection(("1.1.1.1", 443), timeout=2) and "CONNECTED")
def fill():
    with open("/tmp/fill", "wb") as f:
        for _ in range(1000):
            f.write(b"x" * 1024 * 1024)
            f.flush()
    return "NO LIMIT"
attempt("fill_tmp", fill)
res["tmp_mib"] = os.path.getsize("/tmp/fill") // (1024 * 1024)
os.remove("/tmp/fill")
attempt("kill_pid_1", lambda: os.kill(1, 9) or "sent")
attempt("write_image_root", lambda: open("/usr/bin/evil", "w") and "WROTE")
open(os.path.expanduser("~/mine.txt"), "w").write("kept")
print(json.dumps(res))
`;
    const res = JSON.parse(await stdoutOf(sandbox, probe));
    expect(res).toEqual({
      etc_shadow: 'ENOENT', // the image has no host /etc
      proc_1_root: 'EACCES',
      proc_1_root_shadow: 'EACCES',
      proc_self_root_shadow: 'ENOENT',
      host_root_home: 'ENOENT',
      other_volume: 'ENOENT',
      tcp_host_loopback: 'ECONNREFUSED', // the sandbox's own empty loopback
      tcp_internet: expect.stringMatching(/^(EHOSTUNREACH|ENETUNREACH)$/),
      fill_tmp: 'ENOSPC',
      tmp_mib: expect.any(Number),
      kill_pid_1: 'EPERM',
      write_image_root: expect.stringMatching(/^(EROFS|EACCES)$/),
    });
    expect(res.tmp_mib).toBeLessThanOrEqual(64);
    expect(readFileSync(join(ownVolume, 'mine.txt'), 'utf8')).toBe('kept');
    // Still alive and well after all of it.
    expect(await stdoutOf(sandbox, 'print("alive")')).toBe('alive\n');
  });

  it('a memory hog is killed at the cap and reported as OOM with the figures', async () => {
    const { sandbox } = await startKernel({ limits: { memoryBytes: 512 * MiB } });
    started.push(sandbox);
    const exit = exited(sandbox);
    await expect(sandbox.client.execute('hog = bytearray(900 * 1024 * 1024)')).rejects.toThrow(
      /out of memory at 0\.\d+ GiB \/ 0\.50 GiB/,
    );
    const e = await exit;
    expect(e.reason).toBe('oom');
    expect(e.memoryLimitBytes).toBe(512 * MiB);
    expect(e.peakMemoryBytes).toBeGreaterThan(400 * MiB);
  });

  it('a fork bomb is contained by the sandbox’s caps, and the host’s process table recovers', async () => {
    for (const s of started) await s.terminate();
    const processesBefore = sandboxProcesses();
    const { sandbox } = await startKernel({ limits: { memoryBytes: 1024 * MiB, pids: 1024 } });
    started.push(sandbox);
    const exit = exited(sandbox);
    const outcome = await sandbox.client.execute('import os\nwhile True:\n    os.fork()').then(
      (r) => `finished: ${r.reply.status}`,
      (err: Error) => `died: ${err.message}`,
    );
    expect(outcome).toMatch(/^died: Kernel died \(out of memory at/);
    expect((await exit).reason).toBe('oom');
    await sandbox.terminate();
    // The dead sandbox's stub processes are reaped within seconds.
    const deadline = Date.now() + 15_000;
    while (sandboxProcesses() > processesBefore && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 250));
    expect(sandboxProcesses()).toBeLessThanOrEqual(processesBefore);
  });

  it('the host still starts a healthy sandbox afterwards', async () => {
    mkdirSync('/tmp', { recursive: true });
    const { sandbox } = await startKernel();
    started.push(sandbox);
    expect(await stdoutOf(sandbox, 'print(6 * 7)')).toBe('42\n');
  });
});
