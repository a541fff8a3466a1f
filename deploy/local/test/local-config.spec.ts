import { createServer, type Server } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSupervised } from '../src/component-runner';
import { loadLocalConfig } from '../src/local-config';
import type { Component, PlatformContext } from '../src/platform-context';
import { ProcessSupervisor } from '../src/process-supervisor';
import { PlatformError } from '../src/progress';

describe('local platform configuration', () => {
  it('has the documented defaults, all on 127.0.0.1', () => {
    const c = loadLocalConfig('/repo', {});
    expect(c.bindHost).toBe('127.0.0.1');
    expect(c.ports).toEqual({
      gateway: 8080,
      workerHealth: 8091,
      hostWorker: 8092,
      billing: 8093,
      docSync: 8094,
      agent: 8095,
      gpuScheduler: 8096,
      localLlm: 8097,
      postgres: 15432,
      kafka: 19092,
      kafkaController: 19093,
      temporal: 17233,
      temporalUi: 18233,
      s3: 17070,
    });
    expect(c.stateDir).toBe('/repo/.quire/state');
    expect(c.cacheDir).toBe('/repo/.quire/cache');
  });

  it('takes every port and path from QUIRE_* variables', () => {
    const c = loadLocalConfig('/repo', {
      QUIRE_KAFKA_PORT: '29092',
      QUIRE_STATE_DIR: '/data/quire',
      QUIRE_CACHE_DIR: 'cache',
    });
    expect(c.ports.kafka).toBe(29092);
    expect(c.stateDir).toBe('/data/quire');
    expect(c.cacheDir).toBe('/repo/cache');
  });

  it('rejects a bad port with the variable’s name', () => {
    expect(() => loadLocalConfig('/repo', { QUIRE_POSTGRES_PORT: '99999' })).toThrow(
      /QUIRE_POSTGRES_PORT=99999 is not a valid port/,
    );
    expect(() => loadLocalConfig('/repo', { QUIRE_S3_PORT: 'abc' })).toThrow(/QUIRE_S3_PORT/);
  });
});

describe('starting a piece whose port is taken', () => {
  let squatter: Server;
  let port: number;

  beforeAll(async () => {
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    port = (squatter.address() as { port: number }).port;
  });
  afterAll(() => squatter.close());

  it('fails with the port, the piece and the setting to change, and starts nothing', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'quire-state-'));
    const ctx = {
      config: loadLocalConfig('/repo', { QUIRE_STATE_DIR: stateDir }),
      supervisor: new ProcessSupervisor(stateDir),
    } as PlatformContext;
    let spawned = false;
    const piece: Component = {
      name: 'kafka',
      title: 'Apache Kafka',
      ports: () => [port],
      endpoint: () => '',
      install: async () => {},
      start: async () => {},
      stop: async () => {},
      ready: async () => false,
    };
    const attempt = startSupervised(ctx, piece, () => (spawned = true), {
      readyTimeoutMs: 1000,
      portEnv: { [port]: 'QUIRE_KAFKA_PORT' },
    });
    await expect(attempt).rejects.toBeInstanceOf(PlatformError);
    await expect(attempt).rejects.toMatchObject({
      piece: 'Apache Kafka',
      problem: expect.stringContaining(`port ${port} is already in use`),
      remedy: expect.stringContaining('QUIRE_KAFKA_PORT=<port>'),
    });
    expect(spawned).toBe(false);
  });
});
