import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  AcceptLinkResponse,
  AuthResponse,
  ListNotebooksResponse,
  NotebookSessionResponse,
  NotebookSummary,
  SharesResponse,
  VersionsResponse,
} from '@quire/contracts';
import { DocClient } from './support/clients';
import {
  api,
  bootApiGateway,
  type GatewayUnderTest,
  joinOrg,
  type ServiceProcess,
  signup,
} from './support/harness';

jest.setTimeout(180_000);

interface Ipynb {
  nbformat: number;
  cells: { id?: string; cell_type: string; source: string | string[]; outputs?: unknown[] }[];
}
const text = (s: string | string[]) => (Array.isArray(s) ? s.join('') : s);

describe('notebooks through the gateway (real doc-sync): import/export, sharing, links, versions, delete', () => {
  let docSync: ServiceProcess;
  let gw: GatewayUnderTest;
  let owner: AuthResponse;
  let colleague: AuthResponse;
  let outsider: AuthResponse;
  let nb: NotebookSummary;
  // A real-world notebook (images, errors, markdown) that doc-sync's own tests use too.
  const fixture = JSON.parse(
    readFileSync(join(__dirname, '..', '..', 'doc-sync', 'test', 'fixtures', 'real-world.ipynb'), 'utf8'),
  ) as Ipynb;

  beforeAll(async () => {
    ({ gw, docSync } = await bootApiGateway());
    owner = await signup(gw.base, 'owner', 'Notebook Org');
    colleague = await joinOrg(gw.base, owner.token, 'colleague');
    outsider = await signup(gw.base, 'outsider', 'Another Org');
  });

  afterAll(async () => {
    await gw?.close();
    await docSync?.stop();
  });

  it('imports a real-world .ipynb and exports the same cells and outputs', async () => {
    const imported = await api<NotebookSummary>(gw.base, 'POST', '/api/notebooks/import?title=Real%20world', {
      token: owner.token,
      body: fixture,
    });
    expect(imported.status).toBe(201);
    nb = imported.body;
    expect(nb).toMatchObject({
      title: 'Real world',
      role: 'owner',
      ownerId: owner.user.id,
      orgId: owner.org.id,
    });
    const exported = await api<Ipynb>(gw.base, 'GET', `/api/notebooks/${nb.id}/export`, {
      token: owner.token,
    });
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-disposition')).toMatch(/Real_world\.ipynb/);
    expect(exported.body.nbformat).toBe(4);
    expect(exported.body.cells.map((c) => [c.cell_type, text(c.source)])).toEqual(
      fixture.cells.map((c) => [c.cell_type, text(c.source)]),
    );
    expect(exported.body.cells.map((c) => (c.outputs ?? []).length)).toEqual(
      fixture.cells.map((c) => (c.outputs ?? []).length),
    );
    const list = await api<ListNotebooksResponse>(gw.base, 'GET', '/api/notebooks', { token: owner.token });
    expect(list.body.notebooks.map((n) => n.id)).toContain(nb.id);
  });

  it('refuses a body that is not a notebook, and keeps nothing of it', async () => {
    const before = (
      await api<ListNotebooksResponse>(gw.base, 'GET', '/api/notebooks', { token: owner.token })
    ).body.notebooks.length;
    const bad = await api<{ code: string }>(gw.base, 'POST', '/api/notebooks/import', {
      token: owner.token,
      body: { cells: 'nope' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('notebook.bad_ipynb');
    const badTitle = await api<{ code: string }>(gw.base, 'PATCH', `/api/notebooks/${nb.id}`, {
      token: owner.token,
      body: { title: '' },
    });
    expect(badTitle.status).toBe(400);
    const after = (await api<ListNotebooksResponse>(gw.base, 'GET', '/api/notebooks', { token: owner.token }))
      .body.notebooks.length;
    expect(after).toBe(before);
  });

  it('shares by link within the org: accept gives the link’s role; another org is refused; revoking kills the link', async () => {
    expect((await api(gw.base, 'GET', `/api/notebooks/${nb.id}`, { token: colleague.token })).status).toBe(
      403,
    );
    const shared = await api<SharesResponse>(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: owner.token,
      body: { link: 'edit' },
    });
    expect(shared.status).toBe(200);
    const token = shared.body.link.token!;
    expect(shared.body.link.url).toMatch(new RegExp(`/links/${token}$`));
    expect((await api(gw.base, 'POST', `/api/links/${token}/accept`, { token: outsider.token })).status).toBe(
      403,
    );
    const accepted = await api<AcceptLinkResponse>(gw.base, 'POST', `/api/links/${token}/accept`, {
      token: colleague.token,
    });
    expect(accepted.body).toEqual({ notebookId: nb.id, role: 'editor' });
    expect(
      (await api<NotebookSummary>(gw.base, 'GET', `/api/notebooks/${nb.id}`, { token: colleague.token })).body
        .role,
    ).toBe('editor');
    const renamed = await api<NotebookSummary>(gw.base, 'PATCH', `/api/notebooks/${nb.id}`, {
      token: colleague.token,
      body: { title: 'Renamed' },
    });
    expect(renamed.body.title).toBe('Renamed');
    const shares = await api<SharesResponse>(gw.base, 'GET', `/api/notebooks/${nb.id}/shares`, {
      token: colleague.token,
    });
    expect(shares.body.shares).toEqual([
      expect.objectContaining({ userId: colleague.user.id, role: 'editor' }),
    ]);
    // The owner downgrades the colleague and revokes the link.
    await api(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: owner.token,
      body: { shares: [{ email: colleague.user.email, role: 'viewer' }], link: 'none' },
    });
    expect(
      (await api(gw.base, 'POST', `/api/links/${token}/accept`, { token: colleague.token })).status,
    ).toBe(404);
    expect(
      (
        await api(gw.base, 'PATCH', `/api/notebooks/${nb.id}`, {
          token: colleague.token,
          body: { title: 'x' },
        })
      ).status,
    ).toBe(403);
    const unknown = await api<{ code: string }>(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: owner.token,
      body: { shares: [{ email: outsider.user.email, role: 'editor' }] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('share.unknown_user');
  });

  it('hands out a doc session the editor can open on doc-sync with the caller’s role', async () => {
    const s = await api<NotebookSessionResponse>(gw.base, 'GET', `/api/notebooks/${nb.id}/session`, {
      token: colleague.token,
    });
    expect(s.body).toMatchObject({
      role: 'viewer',
      docUrl: `${docSync.base.replace('http', 'ws')}/notebooks/${nb.id}`,
      kernelChannelUrl: `ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`,
      user: { id: colleague.user.id, name: 'colleague' },
    });
    const doc = await DocClient.open(gw.base, colleague.token, nb.id);
    expect(doc.cells.length).toBe(fixture.cells.length);
    doc.close();
  });

  it('lists versions and restores one as a new version', async () => {
    const v = await api<VersionsResponse>(gw.base, 'GET', `/api/notebooks/${nb.id}/versions`, {
      token: owner.token,
    });
    expect(v.status).toBe(200);
    expect(v.body.versions.length).toBeGreaterThan(0);
    const first = v.body.versions.at(-1)!;
    expect(
      (
        await api(gw.base, 'POST', `/api/notebooks/${nb.id}/versions/${first.versionId}/restore`, {
          token: colleague.token,
        })
      ).status,
    ).toBe(403);
    const restored = await api<{ versionId: string; reason: string }>(
      gw.base,
      'POST',
      `/api/notebooks/${nb.id}/versions/${first.versionId}/restore`,
      { token: owner.token },
    );
    expect(restored.status).toBe(200);
    expect(restored.body.versionId).not.toBe(first.versionId);
    const missing = await api(gw.base, 'POST', `/api/notebooks/${nb.id}/versions/no-such-version/restore`, {
      token: owner.token,
    });
    expect(missing.status).toBe(404);
  });

  it('deletes for the owner only; then it is gone for everyone', async () => {
    expect((await api(gw.base, 'DELETE', `/api/notebooks/${nb.id}`, { token: colleague.token })).status).toBe(
      403,
    );
    expect((await api(gw.base, 'DELETE', `/api/notebooks/${nb.id}`, { token: owner.token })).status).toBe(
      204,
    );
    expect((await api(gw.base, 'GET', `/api/notebooks/${nb.id}`, { token: owner.token })).status).toBe(404);
    expect((await api(gw.base, 'GET', `/api/notebooks/${nb.id}/export`, { token: owner.token })).status).toBe(
      404,
    );
  });
});
