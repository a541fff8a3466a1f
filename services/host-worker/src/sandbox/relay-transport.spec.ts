import { PassThrough } from 'node:stream';
import { encodeRecord, StdioRelayTransport } from './relay-transport';

const SHELL = 0;
const RESYNC = 8;

function attached(opts: { resyncToken?: string } = {}) {
  const stdout = new PassThrough();
  const stdin = new PassThrough();
  const t = new StdioRelayTransport();
  const frames: string[] = [];
  const errors: Error[] = [];
  t.on('frames', (_channel: string, parts: Buffer[]) =>
    frames.push(parts.map((p) => p.toString()).join('|')),
  );
  t.on('relay-error', (e: Error) => errors.push(e));
  t.attach(stdout, stdin, opts);
  return { t, stdout, stdin, frames, errors };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('stdio relay transport', () => {
  it('decodes records split across arbitrary chunk boundaries', async () => {
    const { stdout, frames } = attached();
    const bytes = Buffer.concat([
      encodeRecord(SHELL, [Buffer.from('a'), Buffer.from('bc')]),
      encodeRecord(SHELL, [Buffer.from('x'.repeat(70_000))]),
    ]);
    for (let i = 0; i < bytes.length; i += 997) stdout.write(bytes.subarray(i, i + 997));
    await tick();
    expect(frames).toEqual(['a|bc', 'x'.repeat(70_000)]);
  });

  it('after re-attaching, drops the half record the old reader left and everything before the resync record', async () => {
    const { t, stdout, stdin, frames, errors } = attached({ resyncToken: 'tok-123' });
    const sent: Buffer[] = [];
    stdin.on('data', (d: Buffer) => sent.push(d));
    const resynced = t.requestResync('tok-123', 1000);
    await tick();
    // The request went to the shim as a shim record carrying the token.
    expect(Buffer.concat(sent).toString()).toContain('"type":"resync","token":"tok-123"');
    const stale = encodeRecord(SHELL, [Buffer.from('before')]);
    stdout.write(
      Buffer.concat([
        stale.subarray(7), // the tail of a record the dead reader half consumed
        stale,
        encodeRecord(RESYNC, [Buffer.from('tok-123')]).subarray(0, 5),
      ]),
    );
    stdout.write(
      Buffer.concat([
        encodeRecord(RESYNC, [Buffer.from('tok-123')]).subarray(5),
        encodeRecord(SHELL, [Buffer.from('after')]),
      ]),
    );
    await resynced;
    await tick();
    expect(frames).toEqual(['after']);
    expect(errors).toEqual([]);
  });

  it('reports a stream that is out of sync instead of misreading it', async () => {
    const { stdout, frames, errors } = attached();
    stdout.write(Buffer.from('garbage that is not a record'));
    await tick();
    expect(frames).toEqual([]);
    expect(errors[0]?.message).toMatch(/out of sync/);
  });

  it('times out a resync the shim never answers', async () => {
    const { t } = attached({ resyncToken: 'never' });
    await expect(t.requestResync('never', 50)).rejects.toThrow(/did not answer a resync/);
  });
});
