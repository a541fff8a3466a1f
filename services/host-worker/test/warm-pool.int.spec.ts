import { rmSync } from 'node:fs';
import { DEFAULT_LIMITS } from '@quire/sandbox-gvisor';
import { poolSandboxFactory, WarmPool, type WarmPoolEvent } from '../src/kernels/warm-pool';
import type { GvisorKernelSandbox } from '../src/sandbox/gvisor-kernel-sandbox';
import { kernelEnvDir, makeHost, SHIM_DIR } from './gvisor-kernel-fixture';

jest.setTimeout(90_000);

function resultText(outputs: { header: { msg_type: string }; content: Record<string, unknown> }[]): string {
  const r = outputs.find((o) => o.header.msg_type === 'execute_result');
  return String((r?.content.data as Record<string, string> | undefined)?.['text/plain'] ?? '');
}

describe('warm pool of gVisor kernel sandboxes', () => {
  const host = makeHost('pool');
  const created = new Map<string, GvisorKernelSandbox>();
  const events: WarmPoolEvent[] = [];
  const handedOut: GvisorKernelSandbox[] = [];
  const base = poolSandboxFactory({
    runsc: host.runsc,
    workDir: host.workDir,
    kernelEnvDir: kernelEnvDir(),
    shimDir: SHIM_DIR,
    limits: DEFAULT_LIMITS,
  });
  let pool: WarmPool;

  beforeAll(async () => {
    pool = new WarmPool({
      target: 2,
      checkTimeoutMs: 500,
      factory: () => {
        const s = base();
        created.set(s.id, s);
        return s;
      },
      onEvent: (e) => events.push(e),
    });
    await pool.waitForReady(2, 30_000);
  });

  afterAll(async () => {
    await pool?.close();
    await Promise.all(handedOut.map((s) => s.terminate().catch(() => undefined)));
    const left = await host.runsc.list();
    await host.runsc.removeRoot(); // unmounts runsc's null-netns in it first (EBUSY otherwise)
    rmSync(host.workDir, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it('hands out a pre-booted kernel that has numpy imported already', async () => {
    expect(pool.ready).toBe(2);
    const got = await pool.acquire();
    handedOut.push(got.sandbox);
    expect(got.fromWarmPool).toBe(true);
    expect(got.discarded).toBe(0);
    expect(got.readyMs).toBeLessThan(300);
    const t0 = Date.now();
    const { reply, outputs } = await got.sandbox.client.execute('import numpy; numpy.__version__');
    expect(Date.now() - t0).toBeLessThan(500); // no import: numpy was preloaded
    expect(reply.status).toBe('ok');
    expect(resultText(outputs)).toMatch(/^'\d+\.\d+\.\d+'$/);
    // No home volume in a pool kernel: scratch cwd, and matplotlib does not complain.
    const env = await got.sandbox.client.execute(
      'import os, sys, matplotlib\n(os.getcwd(), "pandas" in sys.modules, matplotlib.get_configdir())',
    );
    expect(env.outputs.filter((o) => o.header.msg_type === 'stream')).toEqual([]);
    expect(resultText(env.outputs)).toBe("('/tmp', True, '/tmp/.config/matplotlib')");
  });

  it('refills to its target in the background', async () => {
    expect(pool.ready + pool.booting).toBe(2);
    await pool.waitForReady(2, 30_000);
    expect(pool.stats()).toMatchObject({ ready: 2, booting: 0, target: 2, hits: 1, misses: 0 });
  });

  it('discards a pooled kernel that stopped answering and hands out a live one', async () => {
    const [stuckId, liveId] = pool.readyIds();
    // The sandbox stays up but its kernel is frozen: only the kernel_info check on acquire can tell.
    created.get(stuckId!)!.replyToShim({ type: 'signal', signal: 'SIGSTOP' });
    const got = await pool.acquire();
    handedOut.push(got.sandbox);
    expect(got.sandbox.id).toBe(liveId);
    expect(got.fromWarmPool).toBe(true);
    expect(got.discarded).toBe(1);
    expect(events).toContainEqual(expect.objectContaining({ type: 'discarded', sandboxId: stuckId }));
    expect((await got.sandbox.client.execute('1 + 1')).reply.status).toBe('ok');
    await pool.waitForReady(2, 30_000);
  });

  it('drops a pooled sandbox that died while waiting, before anyone asks for it', async () => {
    const [deadId] = pool.readyIds();
    await host.runsc.kill(deadId!, 'KILL', true);
    const deadline = Date.now() + 10_000;
    while (pool.readyIds().includes(deadId!) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(pool.readyIds()).not.toContain(deadId);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'discarded',
        sandboxId: deadId,
        reason: expect.stringMatching(/exited/),
      }),
    );
    const got = await pool.acquire();
    handedOut.push(got.sandbox);
    expect(got.sandbox.id).not.toBe(deadId);
    expect(got.fromWarmPool).toBe(true);
    expect((await got.sandbox.client.execute('2 + 2')).reply.status).toBe('ok');
  });

  it('cold-boots when the pool is empty, and says so', async () => {
    await pool.drain();
    expect(pool.stats()).toMatchObject({ ready: 0, booting: 0, target: 0 });
    const got = await pool.acquire();
    handedOut.push(got.sandbox);
    expect(got.fromWarmPool).toBe(false);
    expect(got.readyMs).toBeGreaterThan(500); // a real boot
    const { reply, outputs } = await got.sandbox.client.execute('import numpy; numpy.__version__');
    expect(reply.status).toBe('ok');
    expect(resultText(outputs)).toMatch(/^'\d+/);
    expect(pool.stats().misses).toBe(1);
  });
});
