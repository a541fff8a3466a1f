import { OUTPUT_REF_MIME, type OutputRef } from '@quire/contracts';
import { CellOutputs, type CellOutputLimits } from './cell-outputs';

/** An in-memory object store standing in for S3 (unit test; the integration test uses S3). */
function store() {
  const objects: { body: Buffer; contentType: string }[] = [];
  return {
    objects,
    spill: async (body: Buffer, contentType: string) => {
      objects.push({ body, contentType });
      return { url: `/obj/${objects.length - 1}`, bytes: body.length };
    },
  };
}

const small: CellOutputLimits = {
  maxInlineOutputBytes: 100,
  maxCellOutputBytes: 1000,
  maxRecordedBytes: 1_000_000,
};

describe('CellOutputs (nbformat semantics and size rules)', () => {
  it('merges consecutive stream messages of the same name, not across names', async () => {
    const c = new CellOutputs(store().spill);
    await c.apply('stream', { name: 'stdout', text: 'a' });
    await c.apply('stream', { name: 'stdout', text: 'b\n' });
    await c.apply('stream', { name: 'stderr', text: 'warn\n' });
    await c.apply('stream', { name: 'stdout', text: 'c' });
    expect(c.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'ab\n' },
      { output_type: 'stream', name: 'stderr', text: 'warn\n' },
      { output_type: 'stream', name: 'stdout', text: 'c' },
    ]);
  });

  it('clear_output clears now, or with wait=true just before the next output', async () => {
    const c = new CellOutputs(store().spill);
    await c.apply('stream', { name: 'stdout', text: '10%' });
    await c.apply('clear_output', { wait: true });
    expect(c.outputs).toHaveLength(1);
    await c.apply('stream', { name: 'stdout', text: '20%' });
    expect(c.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: '20%' }]);
    await c.apply('clear_output', { wait: false });
    expect(c.outputs).toEqual([]);
    expect(c.takeChanges()).toEqual({ from: 0, outputs: [] });
  });

  it('update_display_data replaces the output with that display_id and asks other cells to do the same', async () => {
    const c = new CellOutputs(store().spill);
    await c.apply('display_data', {
      data: { 'text/plain': 'v1' },
      metadata: {},
      transient: { display_id: 'd1' },
    });
    await c.apply('display_data', { data: { 'text/plain': 'other' }, metadata: {} });
    c.takeChanges();
    const r = await c.apply('update_display_data', {
      data: { 'text/plain': 'v2' },
      metadata: {},
      transient: { display_id: 'd1' },
    });
    expect(r.displayUpdate).toEqual({ displayId: 'd1', data: { 'text/plain': 'v2' }, metadata: {} });
    expect(c.outputs[0]).toMatchObject({ data: { 'text/plain': 'v2' }, transient: { display_id: 'd1' } });
    expect(c.outputs[1]).toMatchObject({ data: { 'text/plain': 'other' } });
    expect(c.takeChanges()!.from).toBe(0);
  });

  it('reports only the changed tail', async () => {
    const c = new CellOutputs(store().spill);
    await c.apply('stream', { name: 'stdout', text: 'x' });
    await c.apply('execute_result', { data: { 'text/plain': '1' }, metadata: {}, execution_count: 3 });
    expect(c.takeChanges()!.from).toBe(0);
    expect(c.takeChanges()).toBeNull();
    await c.apply('error', { ename: 'E', evalue: 'v', traceback: ['t'] });
    expect(c.takeChanges()).toEqual({
      from: 2,
      outputs: [{ output_type: 'error', ename: 'E', evalue: 'v', traceback: ['t'] }],
    });
  });

  it('puts a rich output over the inline limit in the store and keeps a reference with a preview', async () => {
    const s = store();
    const c = new CellOutputs(s.spill, small);
    const png = Buffer.alloc(500, 7).toString('base64');
    await c.apply('display_data', {
      data: { 'image/png': png, 'text/plain': '<Figure>' },
      metadata: { w: 1 },
    });
    expect(s.objects).toHaveLength(1);
    expect(s.objects[0]!.contentType).toBe('image/png');
    expect(s.objects[0]!.body).toEqual(Buffer.alloc(500, 7)); // decoded, servable as an image
    const ref = (c.outputs[0] as { data: Record<string, unknown> }).data[OUTPUT_REF_MIME] as OutputRef;
    expect(ref).toEqual({ url: '/obj/0', mime: 'image/png', bytes: 500, truncated: false });
    expect(c.outputs[0]).toMatchObject({
      output_type: 'display_data',
      data: { 'text/plain': '<Figure>' },
      metadata: { w: 1 },
    });
    expect(c.truncated).toBe(false);
  });

  it('splits a long stream into inline-sized chunks, and cuts the cell at its limit with a link to everything', async () => {
    const s = store();
    const c = new CellOutputs(s.spill, small);
    const line = 'é'.repeat(9) + '\n'; // 19 bytes, multi-byte characters must not be split
    let all = '';
    for (let i = 0; i < 200; i++) {
      await c.apply('stream', { name: 'stdout', text: line });
      all += line;
    }
    await c.finish();
    const streams = c.outputs.filter((o) => o.output_type === 'stream') as { text: string }[];
    for (const o of streams) expect(Buffer.byteLength(o.text)).toBeLessThanOrEqual(100);
    const inline = streams.map((o) => o.text).join('');
    expect(Buffer.byteLength(inline)).toBeLessThanOrEqual(1000);
    expect(Buffer.byteLength(inline)).toBeGreaterThan(900);
    expect(all.startsWith(inline)).toBe(true);
    expect(inline).not.toContain('\uFFFD');
    expect(c.truncated).toBe(true);
    const last = c.outputs.at(-1) as { data: Record<string, unknown> };
    const ref = last.data[OUTPUT_REF_MIME] as OutputRef;
    expect(ref).toMatchObject({ truncated: true, mime: 'text/plain', bytes: Buffer.byteLength(all) });
    expect(s.objects.at(-1)!.body.toString('utf8')).toBe(all);
  });

  it('a clear_output after a cut starts over (progress bars do not stay cut)', async () => {
    const c = new CellOutputs(store().spill, small);
    await c.apply('stream', { name: 'stdout', text: 'x'.repeat(2000) });
    expect(c.truncated).toBe(true);
    await c.apply('clear_output', {});
    await c.apply('stream', { name: 'stdout', text: 'fresh' });
    expect(c.truncated).toBe(false);
    expect(c.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'fresh' }]);
  });
});
