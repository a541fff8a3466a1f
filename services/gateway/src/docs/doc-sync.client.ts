import type { CreateNotebookDocRequest, NotebookVersion } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { TokenService } from '../auth/tokens';

/**
 * doc-sync's internal HTTP API (doc-sync-api.ts), called with a short-lived
 * service doc token for the one notebook concerned.
 */
export class DocSyncClient {
  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenService,
  ) {}

  async serviceToken(notebookId: string, orgId: string): Promise<string> {
    return (
      await this.tokens.mintDoc({
        sub: 'service:gateway',
        org: orgId,
        name: 'Quire',
        nb: notebookId,
        role: 'service',
      })
    ).token;
  }

  async create(notebookId: string, orgId: string, req: CreateNotebookDocRequest): Promise<void> {
    await this.call('POST', notebookId, orgId, '', req);
  }

  async exportIpynb(notebookId: string, orgId: string): Promise<unknown> {
    return this.call('GET', notebookId, orgId, '/ipynb');
  }

  async versions(notebookId: string, orgId: string): Promise<NotebookVersion[]> {
    return ((await this.call('GET', notebookId, orgId, '/versions')) as { versions: NotebookVersion[] })
      .versions;
  }

  async restore(notebookId: string, orgId: string, versionId: string): Promise<NotebookVersion> {
    return (await this.call(
      'POST',
      notebookId,
      orgId,
      `/versions/${encodeURIComponent(versionId)}/restore`,
    )) as NotebookVersion;
  }

  async delete(notebookId: string, orgId: string): Promise<void> {
    await this.call('DELETE', notebookId, orgId, '');
  }

  private async call(method: string, notebookId: string, orgId: string, suffix: string, body?: unknown) {
    const url = `${this.baseUrl.replace(/\/$/, '')}/internal/notebooks/${encodeURIComponent(notebookId)}${suffix}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${await this.serviceToken(notebookId, orgId)}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new QuireError(
        'unavailable',
        'the document service is not reachable; try again',
        'docs.unavailable',
        err,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let problem: { code?: string; detail?: string } = {};
      try {
        problem = JSON.parse(text) as typeof problem;
      } catch {
        /* not problem+json */
      }
      const kind =
        res.status === 404
          ? 'not_found'
          : res.status === 400
            ? 'validation'
            : res.status === 413
              ? 'too_large'
              : res.status === 409
                ? 'conflict'
                : 'unavailable';
      throw new QuireError(
        kind,
        problem.detail ?? `document service answered ${res.status}`,
        problem.code ?? `docs.${kind}`,
      );
    }
    return text ? (JSON.parse(text) as unknown) : undefined;
  }
}
