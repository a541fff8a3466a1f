import { NOTEBOOK_LIMITS, OUTPUT_REF_MIME, type NotebookOutput, type OutputRef } from '@quire/contracts';

/** Stores a large output somewhere durable and says how to fetch it. */
export type SpillFn = (body: Buffer, contentType: string) => Promise<{ url: string; bytes: number }>;

export interface CellOutputLimits {
  maxInlineOutputBytes: number;
  maxCellOutputBytes: number;
  /** The full-output object (behind a cut) is not kept beyond this. */
  maxRecordedBytes: number;
}

export const DEFAULT_LIMITS: CellOutputLimits = {
  maxInlineOutputBytes: NOTEBOOK_LIMITS.maxInlineOutputBytes,
  maxCellOutputBytes: NOTEBOOK_LIMITS.maxCellOutputBytes,
  maxRecordedBytes: 512 * 1024 * 1024,
};

/**
 * One execution's outputs for one cell, as nbformat says they combine —
 * stream merging, clear_output (with wait), update_display_data by display_id —
 * and with Quire's size rules (ARCHITECTURE.md, Data and durability):
 *
 *  - no output in the document is bigger than maxInlineOutputBytes: a bigger
 *    rich output goes to S3 and the document holds an OutputRef; a long stream
 *    continues in a new stream output of the same name (renderers join them);
 *  - the document holds at most maxCellOutputBytes per cell: beyond, the cell
 *    is cut, and when the run ends the whole output is stored as one object
 *    linked by an OutputRef with `truncated: true`.
 *
 * `outputs` is what the document must show; `dirtyFrom` the first index that
 * changed since the last `takeChanges()`.
 */
export class CellOutputs {
  readonly outputs: NotebookOutput[] = [];
  private dirty: number | null = null;
  private docBytes = 0;
  private cut = false;
  private pendingClear = false;
  /** Everything the run produced (streams merged), for the object behind a cut. */
  private all: NotebookOutput[] = [];
  private recordedBytes = 0;
  private recordingDropped = false;

  constructor(
    private readonly spill: SpillFn,
    private readonly limits: CellOutputLimits = DEFAULT_LIMITS,
  ) {}

  get truncated(): boolean {
    return this.cut;
  }

  /** Applies one IOPub message. Returns a display update other cells must apply too. */
  async apply(
    msgType: string,
    content: Record<string, unknown>,
  ): Promise<{
    displayUpdate?: { displayId: string; data: Record<string, unknown>; metadata: Record<string, unknown> };
  }> {
    switch (msgType) {
      case 'stream':
        this.beforeOutput();
        this.stream(content.name === 'stderr' ? 'stderr' : 'stdout', String(content.text ?? ''));
        return {};
      case 'display_data':
      case 'execute_result':
      case 'error': {
        this.beforeOutput();
        const out = toOutput(msgType, content);
        this.record(out);
        await this.push(out);
        return {};
      }
      case 'clear_output':
        if (content.wait === true) this.pendingClear = true;
        else this.clear();
        return {};
      case 'update_display_data': {
        const displayId = (content.transient as { display_id?: string } | undefined)?.display_id;
        if (!displayId) return {};
        const data = (content.data as Record<string, unknown>) ?? {};
        const metadata = (content.metadata as Record<string, unknown>) ?? {};
        await this.updateDisplay(displayId, data, metadata);
        return { displayUpdate: { displayId, data, metadata } };
      }
      default:
        return {};
    }
  }

  /** Replaces the data of this cell's outputs showing `displayId`. */
  async updateDisplay(
    displayId: string,
    data: Record<string, unknown>,
    metadata: Record<string, unknown>,
  ): Promise<void> {
    for (let i = 0; i < this.outputs.length; i++) {
      const o = this.outputs[i]!;
      if (o.output_type === 'display_data' && o.transient?.display_id === displayId) {
        const replaced = await this.fit({ ...o, data, metadata } as NotebookOutput);
        this.docBytes += size(replaced) - size(o);
        this.outputs[i] = replaced;
        this.markDirty(i);
      }
    }
  }

  /** Ends the run: stores the full output behind a cut. */
  async finish(): Promise<void> {
    if (!this.cut) return;
    const allStreams = this.all.every((o) => o.output_type === 'stream');
    const body = allStreams
      ? Buffer.from(this.all.map((o) => (o as { text: string }).text).join(''), 'utf8')
      : Buffer.from(JSON.stringify(this.all), 'utf8');
    const mime = allStreams ? 'text/plain' : 'application/json';
    const { url, bytes } = await this.spill(
      body,
      allStreams ? 'text/plain; charset=utf-8' : 'application/json',
    );
    const ref: OutputRef = { url, mime, bytes, truncated: true };
    const note = this.recordingDropped
      ? `Output cut at ${mb(this.limits.maxCellOutputBytes)}; the first ${mb(this.limits.maxRecordedBytes)} are stored.`
      : `Output cut at ${mb(this.limits.maxCellOutputBytes)}; the full output (${mb(bytes)}) is stored.`;
    this.outputs.push({
      output_type: 'display_data',
      data: { 'text/plain': note, [OUTPUT_REF_MIME]: ref },
      metadata: {},
    });
    this.markDirty(this.outputs.length - 1);
  }

  /** The changed tail since the last call, or null when nothing changed. */
  takeChanges(): { from: number; outputs: NotebookOutput[] } | null {
    if (this.dirty === null) return null;
    const from = this.dirty;
    this.dirty = null;
    return { from, outputs: this.outputs.slice(from) };
  }

  private beforeOutput(): void {
    if (this.pendingClear) this.clear();
  }

  private clear(): void {
    this.pendingClear = false;
    this.outputs.length = 0;
    this.all = [];
    this.docBytes = 0;
    this.recordedBytes = 0;
    this.recordingDropped = false;
    this.cut = false;
    this.dirty = 0;
  }

  private stream(name: 'stdout' | 'stderr', text: string): void {
    this.record({ output_type: 'stream', name, text });
    let rest = text;
    while (rest.length > 0 && !this.cut) {
      const last = this.outputs[this.outputs.length - 1];
      const lastBytes =
        last?.output_type === 'stream' && last.name === name ? Buffer.byteLength(last.text) : -1;
      const room = Math.min(
        lastBytes >= 0 ? this.limits.maxInlineOutputBytes - lastBytes : this.limits.maxInlineOutputBytes,
        this.limits.maxCellOutputBytes - this.docBytes,
      );
      if (room <= 0) {
        if (this.docBytes >= this.limits.maxCellOutputBytes) this.cut = true;
        else this.appendStream(name, '', true); // the last chunk is full: start a new one
        continue;
      }
      const piece = takeBytes(rest, room);
      if (piece.length === 0) {
        // Too little room for the next character: a new chunk, or the cut when the cell is full.
        if (this.limits.maxCellOutputBytes - this.docBytes < 4) this.cut = true;
        else this.appendStream(name, '', true);
        continue;
      }
      rest = rest.slice(piece.length);
      this.appendStream(name, piece, lastBytes < 0);
      if (rest.length > 0 && this.docBytes >= this.limits.maxCellOutputBytes) this.cut = true;
    }
  }

  private appendStream(name: 'stdout' | 'stderr', piece: string, fresh: boolean): void {
    if (fresh) {
      if (piece.length === 0 && this.outputs.length > 0) {
        // Force a new chunk by pushing an empty stream output that the next piece fills.
        this.outputs.push({ output_type: 'stream', name, text: '' });
        this.markDirty(this.outputs.length - 1);
        return;
      }
      this.outputs.push({ output_type: 'stream', name, text: piece });
    } else {
      const last = this.outputs[this.outputs.length - 1] as {
        output_type: 'stream';
        name: string;
        text: string;
      };
      this.outputs[this.outputs.length - 1] = { output_type: 'stream', name, text: last.text + piece };
    }
    this.docBytes += Buffer.byteLength(piece);
    this.markDirty(this.outputs.length - 1);
  }

  private async push(out: NotebookOutput): Promise<void> {
    if (this.cut) return;
    const fitted = await this.fit(out);
    const bytes = size(fitted);
    if (this.docBytes + bytes > this.limits.maxCellOutputBytes) {
      this.cut = true;
      return;
    }
    this.outputs.push(fitted);
    this.docBytes += bytes;
    this.markDirty(this.outputs.length - 1);
  }

  /** An output over the inline limit becomes a reference to an S3 object with a short preview. */
  private async fit(out: NotebookOutput): Promise<NotebookOutput> {
    if (size(out) <= this.limits.maxInlineOutputBytes) return out;
    if (out.output_type === 'error') {
      const traceback = out.traceback.join('\n');
      const { url, bytes } = await this.spill(Buffer.from(traceback, 'utf8'), 'text/plain; charset=utf-8');
      return {
        ...out,
        evalue: out.evalue.slice(0, 4096),
        traceback: [`${traceback.slice(0, 4096)}\n… traceback stored: ${url} (${bytes} bytes)`],
      };
    }
    if (out.output_type === 'stream') return out;
    const [mime, value] = Object.entries(out.data).sort((a, b) => sizeOf(b[1]) - sizeOf(a[1]))[0] ?? ['', ''];
    const body =
      mime.startsWith('image/') && typeof value === 'string' && !mime.includes('svg')
        ? Buffer.from(value, 'base64')
        : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
    const { url, bytes } = await this.spill(body, mime || 'application/octet-stream');
    const ref: OutputRef = { url, mime, bytes, truncated: false };
    const plain =
      typeof out.data['text/plain'] === 'string'
        ? (out.data['text/plain'] as string).slice(0, 1024)
        : `[${mime}, ${mb(bytes)}]`;
    return {
      output_type: 'display_data',
      data: { 'text/plain': plain, [OUTPUT_REF_MIME]: ref },
      metadata: out.metadata,
      ...(out.output_type === 'display_data' && out.transient ? { transient: out.transient } : {}),
    };
  }

  private record(out: NotebookOutput): void {
    if (this.recordingDropped) return;
    const bytes = out.output_type === 'stream' ? Buffer.byteLength(out.text) : size(out);
    if (this.recordedBytes + bytes > this.limits.maxRecordedBytes) {
      this.recordingDropped = true;
      return;
    }
    this.recordedBytes += bytes;
    const last = this.all[this.all.length - 1];
    if (out.output_type === 'stream' && last?.output_type === 'stream' && last.name === out.name) {
      this.all[this.all.length - 1] = { ...last, text: last.text + out.text };
    } else this.all.push(out);
  }

  private markDirty(i: number): void {
    this.dirty = this.dirty === null ? i : Math.min(this.dirty, i);
  }
}

function toOutput(
  msgType: 'display_data' | 'execute_result' | 'error',
  c: Record<string, unknown>,
): NotebookOutput {
  if (msgType === 'error')
    return {
      output_type: 'error',
      ename: String(c.ename ?? ''),
      evalue: String(c.evalue ?? ''),
      traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
    };
  const data = (c.data as Record<string, unknown>) ?? {};
  const metadata = (c.metadata as Record<string, unknown>) ?? {};
  if (msgType === 'execute_result')
    return {
      output_type: 'execute_result',
      data,
      metadata,
      execution_count: (c.execution_count as number) ?? null,
    };
  const displayId = (c.transient as { display_id?: string } | undefined)?.display_id;
  return {
    output_type: 'display_data',
    data,
    metadata,
    ...(displayId ? { transient: { display_id: displayId } } : {}),
  };
}

function size(o: unknown): number {
  return Buffer.byteLength(JSON.stringify(o));
}

function sizeOf(v: unknown): number {
  return typeof v === 'string' ? v.length : JSON.stringify(v).length;
}

/** The longest prefix of `s` within `bytes` UTF-8 bytes, not splitting a character. */
function takeBytes(s: string, bytes: number): string {
  // Each character is at least one byte, so the prefix lies within the first `bytes` characters.
  let head = s.slice(0, bytes);
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  const buf = Buffer.from(head, 'utf8');
  if (buf.length <= bytes) return head;
  let end = bytes;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // back to a character start
  return buf.subarray(0, end).toString('utf8');
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
