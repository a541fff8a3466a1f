import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { bootstrapService, freePort } from '@quire/service-kit';

jest.setTimeout(60_000);

describe('gateway on the real platform', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    process.env.QUIRE_GATEWAY_PORT = String(port);
    // No web build: `/` is the platform status page.
    process.env.QUIRE_WEB_DIST = mkdtempSync(join(tmpdir(), 'quire-no-web-'));
    app = await bootstrapService({
      service: 'gateway-it',
      loadModule: async () => (await import('../src/app.module')).AppModule,
      port,
      host: '127.0.0.1',
      logLevel: 'error',
    });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('is ready when PostgreSQL, Kafka, S3 and Temporal answer', async () => {
    const res = await fetch(`${base}/readyz`);
    expect(await res.json()).toEqual({
      ready: true,
      checks: { postgres: 'ok', kafka: 'ok', s3: 'ok', temporal: 'ok' },
    });
    expect(res.status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('serves Prometheus metrics and the status page', async () => {
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/process_cpu_user_seconds_total/);
    expect(await (await fetch(base)).text()).toMatch(/Quire is running/);
  });

  it('answers unknown routes with problem+json', async () => {
    const res = await fetch(`${base}/no/such/route`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await res.json()).toMatchObject({ status: 404, code: 'not_found', instance: '/no/such/route' });
  });
});
