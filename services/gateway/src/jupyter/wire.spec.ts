import { deserialize, serialize } from '@jupyterlab/services/lib/kernel/serialize';
import { decode, encode, V1_PROTOCOL, type WireMessage } from './wire';

const msg: WireMessage = {
  channel: 'iopub',
  header: {
    msg_id: 'm1',
    msg_type: 'stream',
    session: 's',
    username: 'u',
    date: '2026-01-01T00:00:00Z',
    version: '5.3',
  },
  parent_header: { msg_id: 'p1' },
  metadata: {},
  content: { name: 'stdout', text: 'héllo' },
  buffers: [Buffer.from([1, 2, 3])],
};

describe('Jupyter WebSocket wire formats, checked against @jupyterlab/services', () => {
  it('v1.kernel.websocket.jupyter.org: our frames decode in JupyterLab and theirs in ours', () => {
    const ours = encode(msg, V1_PROTOCOL) as Buffer;
    const ab = ours.buffer.slice(ours.byteOffset, ours.byteOffset + ours.byteLength) as ArrayBuffer;
    const theirs = deserialize(ab, V1_PROTOCOL);
    expect(theirs).toMatchObject({
      channel: 'iopub',
      header: msg.header,
      parent_header: msg.parent_header,
      content: msg.content,
    });
    expect(new Uint8Array((theirs.buffers![0] as DataView).buffer)).toEqual(new Uint8Array([1, 2, 3]));
    const back = serialize(theirs as never, V1_PROTOCOL) as ArrayBuffer;
    const decoded = decode(Buffer.from(back), true, V1_PROTOCOL);
    expect(decoded).toMatchObject({ channel: 'iopub', header: msg.header, content: msg.content });
    expect(decoded.buffers![0]).toEqual(Buffer.from([1, 2, 3]));
  });

  it('legacy JSON frames', () => {
    const text = encode(msg, '') as string;
    expect(deserialize(text as never, '')).toMatchObject({ channel: 'iopub', content: msg.content });
    expect(
      decode(Buffer.from(serialize({ ...msg, buffers: [] } as never, '') as string), false, ''),
    ).toMatchObject({ header: msg.header });
  });

  it('refuses a truncated binary frame', () => {
    const ours = encode(msg, V1_PROTOCOL) as Buffer;
    expect(() => decode(ours.subarray(0, 20), true, V1_PROTOCOL)).toThrow();
  });
});
