import { ConfigError } from '@quire/service-kit';
import { loadDocSyncConfig } from './config';

const base = {
  QUIRE_KAFKA_BROKERS: 'k:9092',
  QUIRE_POSTGRES_URL: 'postgres://u:p@db:5432/quire',
  QUIRE_TOKEN_SIGNING_KEY: 's'.repeat(40),
};

describe('doc-sync config', () => {
  it('has the documented defaults', () => {
    const c = loadDocSyncConfig(base);
    expect(c.QUIRE_DOC_SYNC_PORT).toBe(8094);
    expect(c.QUIRE_DOC_SYNC_SCHEMA).toBe('doc_sync');
    expect(c.QUIRE_DOC_SYNC_BUCKET).toBe('quire-documents');
    expect(c.QUIRE_DOC_SYNC_OPS_FLUSH_MS).toBe(5000);
    expect(c.QUIRE_DOC_SYNC_SNAPSHOT_MS).toBe(60_000);
    expect(c.QUIRE_DOC_SYNC_MAX_FRAME_BYTES).toBe(10 * 1024 * 1024);
    expect(c.QUIRE_ALLOWED_ORIGINS).toEqual(['http://127.0.0.1:8080', 'http://localhost:8080']);
  });

  it('allows the gateway origin on its configured port, or exactly the listed origins', () => {
    expect(loadDocSyncConfig({ ...base, QUIRE_GATEWAY_PORT: '21080' }).QUIRE_ALLOWED_ORIGINS).toEqual([
      'http://127.0.0.1:21080',
      'http://localhost:21080',
    ]);
    expect(
      loadDocSyncConfig({ ...base, QUIRE_ALLOWED_ORIGINS: 'https://a.example, https://b.example' })
        .QUIRE_ALLOWED_ORIGINS,
    ).toEqual(['https://a.example', 'https://b.example']);
  });

  it('refuses a short signing key and a bad schema name, naming the variables', () => {
    let err: unknown;
    try {
      loadDocSyncConfig({ ...base, QUIRE_TOKEN_SIGNING_KEY: 'short', QUIRE_DOC_SYNC_SCHEMA: 'Bad-Name' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/QUIRE_TOKEN_SIGNING_KEY/);
    expect((err as Error).message).toMatch(/QUIRE_DOC_SYNC_SCHEMA/);
  });
});
