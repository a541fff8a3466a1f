import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/** One ops-log object: the updates of seq `from`..`to`, in order. */
export interface OpsEntry {
  seq: number;
  update: Uint8Array;
}

const MAGIC = 0x5155_4f31; // "QUO1"

export function encodeOps(entries: OpsEntry[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeUint32(e, MAGIC);
  encoding.writeVarUint(e, entries.length);
  for (const x of entries) {
    encoding.writeVarUint(e, x.seq);
    encoding.writeVarUint8Array(e, x.update);
  }
  return encoding.toUint8Array(e);
}

export function decodeOps(bytes: Uint8Array): OpsEntry[] {
  const d = decoding.createDecoder(bytes);
  if (decoding.readUint32(d) !== MAGIC) throw new Error('not a doc-sync ops-log object');
  const n = decoding.readVarUint(d);
  const out: OpsEntry[] = [];
  for (let i = 0; i < n; i++)
    out.push({ seq: decoding.readVarUint(d), update: decoding.readVarUint8Array(d) });
  return out;
}

const pad = (n: number) => String(n).padStart(12, '0');

/** `ops/<notebook>/<to>-<from>.yops`: sorted by the last seq they hold. */
export const opsKey = (notebookId: string, from: number, to: number) =>
  `ops/${notebookId}/${pad(to)}-${pad(from)}.yops`;
export const opsPrefix = (notebookId: string) => `ops/${notebookId}/`;

export function parseOpsKey(key: string): { from: number; to: number } | undefined {
  const m = /\/(\d{12})-(\d{12})\.yops$/.exec(key);
  return m ? { to: Number(m[1]), from: Number(m[2]) } : undefined;
}
