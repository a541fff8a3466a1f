import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, Runsc } from '@quire/sandbox-gvisor';
import { ConfigError } from '@quire/service-kit';
import { loadHostWorkerConfig } from '../src/config';
import { ProcessKernelSandbox } from '../src/sandbox/process-kernel-sandbox';
import { kernelEnvDir, SHIM_DIR } from './gvisor-kernel-fixture';

jest.setTimeout(60_000);

describe('the unsafe process runtime', () => {
  const base = { QUIRE_KAFKA_BROKERS: 'k:9092', QUIRE_KERNEL_ENV: '/opt/env' };

  it('is refused unless explicitly allowed, with the reason', () => {
    expect(() => loadHostWorkerConfig({ ...base, QUIRE_KERNEL_RUNTIME: 'process' })).toThrow(ConfigError);
    expect(() => loadHostWorkerConfig({ ...base, QUIRE_KERNEL_RUNTIME: 'process' })).toThrow(
      /WITHOUT a sandbox.*QUIRE_ALLOW_UNSAFE_PROCESS_RUNTIME=true/,
    );
    expect(
      loadHostWorkerConfig({
        ...base,
        QUIRE_KERNEL_RUNTIME: 'process',
        QUIRE_ALLOW_UNSAFE_PROCESS_RUNTIME: 'true',
      }).QUIRE_KERNEL_RUNTIME,
    ).toBe('process');
  });

  it('runs the same shim and Jupyter path without gVisor, and refuses to hibernate', async () => {
    const work = mkdtempSync(join(tmpdir(), 'quire-process-rt-'));
    const sandbox = new ProcessKernelSandbox({
      sandboxId: 'proc-it',
      runsc: new Runsc({ rootDir: join(work, 'runsc') }),
      bundleDir: join(work, 'bundle'),
      kernelEnvDir: kernelEnvDir(),
      shimDir: SHIM_DIR,
      limits: DEFAULT_LIMITS,
    });
    try {
      await sandbox.start();
      const { outputs } = await sandbox.client.execute('import os\nx = 41\nx + 1');
      expect(outputs.find((o) => o.header.msg_type === 'execute_result')?.content.data).toEqual({
        'text/plain': '42',
      });
      await expect(sandbox.checkpoint()).rejects.toThrow(/cannot hibernate/);
    } finally {
      await sandbox.terminate();
    }
    expect(sandbox.state).toBe('exited');
  });
});
