import type { ListKernelsResponse } from '@quire/contracts';
import { JsonLogger } from '@quire/service-kit';
import type { KernelMemory } from './kernel-session';
import { KernelMemoryPoller, type MemoryWatched } from './kernel-memory-poller';

class Watched implements MemoryWatched {
  readings: (KernelMemory | null)[] = [];
  adopted: string[] = [];
  constructor(
    readonly kernelId: string,
    public hostApiUrl: string | null,
    public listenerCount = 1,
    public kernelStatus = { state: 'idle' },
  ) {}
  get target() {
    return { kernelId: this.kernelId, notebookId: `nb-${this.kernelId}`, tenant: 'o1', userId: 'u1' };
  }
  setMemory(m: KernelMemory | null): void {
    this.readings.push(m);
  }
  adoptRunning(url: string): void {
    this.adopted.push(url);
    this.hostApiUrl = url;
    this.kernelStatus = { state: 'idle' };
  }
}

const runningKernel = (kernelId: string, memoryBytes: number, memoryLimitBytes = 1000) => ({
  kernelId,
  notebookId: `nb-${kernelId}`,
  tenant: 'o1',
  sandboxId: `s-${kernelId}`,
  state: 'running' as const,
  lastSnapshotId: null,
  resources: { memoryBytes, memoryLimitBytes, peakMemoryBytes: memoryBytes, cpuSecondsTotal: 1 },
});

function poller(sessions: Watched[], listings: Record<string, ListKernelsResponse | Error>, locate?: string) {
  const calls: string[] = [];
  const p = new KernelMemoryPoller({
    sessions: () => sessions,
    ...(locate !== undefined ? { locate: () => Promise.resolve(locate) } : {}),
    intervalMs: 0,
    logger: new JsonLogger('test', 'error'),
    listHost: (url) => {
      calls.push(url);
      const l = listings[url];
      return l instanceof Error || !l ? Promise.reject(l ?? new Error('no host')) : Promise.resolve(l);
    },
  });
  return { p, calls };
}

describe('KernelMemoryPoller', () => {
  it('asks each host once per tick, however many watched kernels it runs', async () => {
    const a = new Watched('k1', 'http://h1');
    const b = new Watched('k2', 'http://h1');
    const c = new Watched('k3', 'http://h2');
    const { p, calls } = poller([a, b, c], {
      'http://h1': { kernels: [runningKernel('k1', 100), runningKernel('k2', 200)] },
      'http://h2': { kernels: [runningKernel('k3', 300, 4000)] },
    });
    await p.tick();
    expect(calls.sort()).toEqual(['http://h1', 'http://h2']);
    expect(a.readings).toEqual([{ usedBytes: 100, limitBytes: 1000 }]);
    expect(b.readings).toEqual([{ usedBytes: 200, limitBytes: 1000 }]);
    expect(c.readings).toEqual([{ usedBytes: 300, limitBytes: 4000 }]);
  });

  it('makes no request for kernels nobody watches or that are not running', async () => {
    const unwatched = new Watched('k1', 'http://h1', 0);
    const hibernated = new Watched('k2', 'http://h1', 2, { state: 'hibernated' });
    const { p, calls } = poller([unwatched, hibernated], { 'http://h1': { kernels: [] } });
    await p.tick();
    expect(calls).toEqual([]);
    expect(unwatched.readings).toEqual([]);
  });

  it('locates a kernel this gateway did not start, and says null when the host no longer runs it', async () => {
    const s = new Watched('k1', null);
    const gone = new Watched('k2', 'http://h1');
    const { p, calls } = poller(
      [s, gone],
      { 'http://h1': { kernels: [runningKernel('k1', 5)] } },
      'http://h1',
    );
    await p.tick();
    expect(calls).toEqual(['http://h1']);
    expect(s.readings).toEqual([{ usedBytes: 5, limitBytes: 1000 }]);
    expect(gone.readings).toEqual([null]);
  });

  it('adopts a kernel that runs although the session thought there was none (started elsewhere)', async () => {
    const running = new Watched('k1', null, 1, { state: 'none' });
    const absent = new Watched('k2', null, 1, { state: 'none' });
    const { p } = poller(
      [running, absent],
      { 'http://h1': { kernels: [runningKernel('k1', 42)] } },
      'http://h1',
    );
    await p.tick();
    expect(running.adopted).toEqual(['http://h1']);
    expect(running.readings).toEqual([{ usedBytes: 42, limitBytes: 1000 }]);
    expect(absent.adopted).toEqual([]);
  });

  it('reports unknown (null), not a stale number, when the host does not answer', async () => {
    const s = new Watched('k1', 'http://down');
    const { p } = poller([s], { 'http://down': new Error('ECONNREFUSED') });
    await p.tick();
    expect(s.readings).toEqual([null]);
  });

  it('skips a tick while the previous one still waits on a slow host', async () => {
    const s = new Watched('k1', 'http://slow');
    let release!: () => void;
    let calls = 0;
    const p = new KernelMemoryPoller({
      sessions: () => [s],
      intervalMs: 0,
      logger: new JsonLogger('test', 'error'),
      listHost: () => {
        calls++;
        return new Promise((r) => (release = () => r({ kernels: [runningKernel('k1', 7)] })));
      },
    });
    const first = p.tick();
    while (calls === 0) await new Promise((r) => setImmediate(r));
    await p.tick();
    release();
    await first;
    expect(calls).toBe(1);
    expect(s.readings).toEqual([{ usedBytes: 7, limitBytes: 1000 }]);
  });
});
