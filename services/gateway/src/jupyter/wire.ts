/**
 * Jupyter kernel messages on the Jupyter Server WebSocket: the legacy JSON
 * text frames, and the `v1.kernel.websocket.jupyter.org` binary framing
 * (uint64 LE count of offsets, the offsets, then channel, header,
 * parent_header, metadata, content and any buffers).
 */
export const V1_PROTOCOL = 'v1.kernel.websocket.jupyter.org';

export interface WireMessage {
  channel: string;
  header: Record<string, unknown> & { msg_id: string; msg_type: string };
  parent_header: Record<string, unknown>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers?: Buffer[];
}

export function decode(data: Buffer, isBinary: boolean, protocol: string): WireMessage {
  if (protocol === V1_PROTOCOL && isBinary) {
    const n = Number(data.readBigUInt64LE(0));
    if (n < 6 || 8 * (n + 1) > data.length) throw new Error('bad v1 frame: offset table');
    const offsets = Array.from({ length: n }, (_, i) => Number(data.readBigUInt64LE(8 * (i + 1))));
    const part = (i: number) => data.subarray(offsets[i], offsets[i + 1]);
    const json = (i: number) => JSON.parse(part(i).toString('utf8')) as Record<string, unknown>;
    const buffers: Buffer[] = [];
    for (let i = 5; i < n - 1; i++) buffers.push(Buffer.from(part(i)));
    return {
      channel: part(0).toString('utf8'),
      header: json(1) as WireMessage['header'],
      parent_header: json(2),
      metadata: json(3),
      content: json(4),
      buffers,
    };
  }
  const m = JSON.parse(data.toString('utf8')) as WireMessage;
  if (!m || typeof m !== 'object' || !m.header || typeof m.channel !== 'string')
    throw new Error('not a Jupyter message');
  return { ...m, parent_header: m.parent_header ?? {}, metadata: m.metadata ?? {}, content: m.content ?? {} };
}

export function encode(msg: WireMessage, protocol: string): Buffer | string {
  if (protocol !== V1_PROTOCOL) {
    const { buffers: _buffers, ...rest } = msg;
    return JSON.stringify({ ...rest, buffers: [] });
  }
  const parts = [
    Buffer.from(msg.channel, 'utf8'),
    Buffer.from(JSON.stringify(msg.header), 'utf8'),
    Buffer.from(JSON.stringify(msg.parent_header ?? {}), 'utf8'),
    Buffer.from(JSON.stringify(msg.metadata ?? {}), 'utf8'),
    Buffer.from(JSON.stringify(msg.content ?? {}), 'utf8'),
    ...(msg.buffers ?? []),
  ];
  const n = parts.length + 1;
  const table = Buffer.alloc(8 * (n + 1));
  table.writeBigUInt64LE(BigInt(n), 0);
  let offset = table.length;
  parts.forEach((p, i) => {
    table.writeBigUInt64LE(BigInt(offset), 8 * (i + 1));
    offset += p.length;
  });
  table.writeBigUInt64LE(BigInt(offset), 8 * n);
  return Buffer.concat([table, ...parts]);
}
