import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGateway, type GatewayUnderTest } from './support/harness';

jest.setTimeout(60_000);

describe('the web editor’s build served at / with the SPA fallback', () => {
  let gw: GatewayUnderTest;

  beforeAll(async () => {
    const dist = mkdtempSync(join(tmpdir(), 'quire-web-dist-'));
    mkdirSync(join(dist, 'assets'));
    writeFileSync(
      join(dist, 'index.html'),
      '<!doctype html><title>Quire editor</title><div id="root"></div>',
    );
    writeFileSync(join(dist, 'assets', 'app.js'), 'console.log("editor")');
    gw = await bootGateway({ QUIRE_WEB_DIST: dist });
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('serves index.html at /, assets with their type, and index.html for client-side routes', async () => {
    const home = await fetch(`${gw.base}/`);
    expect(home.headers.get('content-type')).toMatch(/text\/html/);
    expect(await home.text()).toMatch(/Quire editor/);
    const js = await fetch(`${gw.base}/assets/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toBe('console.log("editor")');
    const deep = await fetch(`${gw.base}/notebooks/nb-123`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toMatch(/Quire editor/);
  });

  it('does not hide API errors or missing assets behind index.html, nor serve files outside the build', async () => {
    const api = await fetch(`${gw.base}/api/no-such-route`);
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await fetch(`${gw.base}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${gw.base}/..%2f..%2fetc%2fpasswd`)).status).not.toBe(200);
    expect((await fetch(`${gw.base}/healthz`)).status).toBe(200);
  });
});
