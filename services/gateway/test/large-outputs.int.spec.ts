import { createHash } from 'node:crypto';
import { OUTPUT_REF_MIME, type AuthResponse, type NotebookSummary, type OutputRef } from '@quire/contracts';
import { ChannelClient, DocClient, until } from './support/clients';
import {
  bootGateway,
  createNotebook,
  signup,
  startDocSync,
  startHostWorker,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(300_000);

const MB = 1024 * 1024;

describe('large outputs: S3 by reference, a cell cut at 5 MB with a link to the whole', () => {
  let docSync: ServiceProcess;
  let host: ServiceProcess;
  let gw: GatewayUnderTest;
  let alice: AuthResponse;
  let nb: NotebookSummary;
  let doc: DocClient;
  let channel: ChannelClient;

  beforeAll(async () => {
    [docSync, host] = await Promise.all([startDocSync(), startHostWorker()]);
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: host.base,
    });
    alice = await signup(gw.base, 'alice', 'Big Outputs');
    nb = await createNotebook(gw.base, alice.token, 'Big');
    doc = await DocClient.open(gw.base, alice.token, nb.id);
    channel = await ChannelClient.open(
      `ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`,
      alice.token,
    );
  });

  afterAll(async () => {
    channel?.close();
    doc?.close();
    await gw?.close();
    await Promise.all([docSync?.stop(), host?.stop()]);
  });

  async function run(cellId: string, source: string) {
    doc.addCode(cellId, source);
    await until('cell synced', () => doc.cell(cellId));
    const [executionId] = await channel.run([cellId]);
    const fin = await channel.finished(executionId!, 180_000);
    expect(fin.status).toBe('ok');
    await until(`${cellId} finished in the doc`, () => doc.execution(cellId)?.status === 'ok', 60_000);
  }

  async function fetchOutput(url: string) {
    const res = await fetch(`${gw.base}${url}`, { headers: { authorization: `Bearer ${alice.token}` } });
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: Buffer.from(await res.arrayBuffer()),
    };
  }

  it('a 20 MB image output goes to S3; the document holds a reference and a preview', async () => {
    await run(
      'image',
      [
        'import base64, hashlib, os',
        'from IPython.display import display',
        'png = os.urandom(15 * 1024 * 1024)',
        'print(hashlib.sha256(png).hexdigest())',
        "display({'image/png': base64.b64encode(png).decode(), 'text/plain': '<Figure 20 MB>'}, raw=True)",
      ].join('\n'),
    );
    const sha = doc.stdout('image').trim();
    const outs = doc.outputs('image');
    const display = outs.find((o) => o.output_type === 'display_data') as { data: Record<string, unknown> };
    const ref = display.data[OUTPUT_REF_MIME] as OutputRef;
    expect(ref).toMatchObject({ mime: 'image/png', bytes: 15 * MB, truncated: false });
    expect(display.data['text/plain']).toBe('<Figure 20 MB>');
    expect(display.data['image/png']).toBeUndefined();
    expect(Buffer.byteLength(JSON.stringify(outs))).toBeLessThan(16 * 1024);
    const got = await fetchOutput(ref.url);
    expect(got.status).toBe(200);
    expect(got.type).toBe('image/png');
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(sha);
    // The reference only opens for people who may read the notebook.
    const outsider = await signup(gw.base, 'mallory', 'Elsewhere');
    const denied = await fetch(`${gw.base}${ref.url}`, {
      headers: { authorization: `Bearer ${outsider.token}` },
    });
    expect(denied.status).toBe(403);
  });

  it('a cell printing 50 MB is cut at 5 MB in the document, with a link to the full 50 MB', async () => {
    await run(
      'flood',
      "import sys\nline = 'y' * 99 + '\\n'\nfor _ in range(500_000):\n    sys.stdout.write(line)",
    );
    const outs = doc.outputs('flood');
    const streams = outs.filter((o) => o.output_type === 'stream') as { text: string }[];
    const inline = streams.map((s) => s.text).join('');
    expect(Buffer.byteLength(inline)).toBeLessThanOrEqual(5 * MB);
    expect(Buffer.byteLength(inline)).toBeGreaterThan(5 * MB - 256 * 1024);
    for (const s of streams) expect(Buffer.byteLength(s.text)).toBeLessThanOrEqual(256 * 1024);
    expect(inline).toBe(('y'.repeat(99) + '\n').repeat(500_000).slice(0, inline.length));
    const last = outs.at(-1) as { data: Record<string, unknown> };
    const ref = last.data[OUTPUT_REF_MIME] as OutputRef;
    expect(ref).toMatchObject({ truncated: true, mime: 'text/plain', bytes: 50_000_000 });
    expect(String(last.data['text/plain'])).toMatch(/cut at 5\.0 MB/);
    const full = await fetchOutput(ref.url);
    expect(full.status).toBe(200);
    expect(full.body.length).toBe(50_000_000);
    expect(full.body.subarray(0, 100).toString()).toBe('y'.repeat(99) + '\n');
    expect(full.body.subarray(-100).toString()).toBe('y'.repeat(99) + '\n');
  });
});
