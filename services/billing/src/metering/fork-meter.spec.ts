import { meterKernel } from './kernel-meter';
import type { JournalEvent } from './usage';

const T0 = Date.UTC(2026, 11, 2, 9, 59, 0);
const fork = 'fork.run-1.step-3';
const ev = (id: string, type: string, t: number, data: Record<string, unknown>): JournalEvent => ({
  id,
  type: `quire.host.${type}`,
  tenant: 'acme',
  time: T0 + t,
  data: { kernelId: fork, hostId: 'h1', sandboxId: 'f-1', ...data },
});
const params = (w: number) => ({
  watermark: T0 + w,
  hostLossAfterMs: 10_000,
  tierDefaults: () => ({ millicores: 1000n, memoryBytes: 1n }),
});

describe('a dry run’s fork kernel', () => {
  it('is billed to its agent run from SandboxStarted to SandboxExited, across an hour', () => {
    const r = meterKernel(
      fork,
      [
        ev('a', 'SandboxStarted', 0, { limits: { cpuQuota: 0.5, memoryBytes: 1024, pids: 1 } }),
        ev('b', 'SandboxExited', 90_000, { reason: 'killed' }),
      ],
      new Map(),
      params(200_000),
    );
    expect(r.orgId).toBe('acme');
    const rows = [...r.usage.values()];
    for (const v of rows)
      expect(v.dims).toMatchObject({
        chargeTo: 'agent-run',
        agentRunId: 'run-1',
        kernelId: fork,
        userId: null,
      });
    const sum = (res: string) => rows.filter((v) => v.dims.resource === res).reduce((s, v) => s + v.base, 0n);
    expect(sum('cpu')).toBe(500n * 90_000n);
    expect(sum('memory')).toBe(1024n * 90_000n);
    expect(new Set(rows.map((v) => v.dims.periodStart)).size).toBe(2);
    expect(r.recheckAfterW).toBeNull();
  });

  it('accrues to the watermark while it runs, and asks to be metered again', () => {
    const r = meterKernel(
      fork,
      [ev('a', 'SandboxStarted', 0, { limits: { cpuQuota: 1, memoryBytes: 1, pids: 1 } })],
      new Map(),
      params(30_000),
    );
    expect(
      [...r.usage.values()].filter((v) => v.dims.resource === 'cpu').reduce((s, v) => s + v.base, 0n),
    ).toBe(1000n * 30_000n);
    expect(r.recheckAfterW).toBe(T0 + 30_000);
  });
});
