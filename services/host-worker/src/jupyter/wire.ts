import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { PROTOCOL_VERSION, type Channel, type JupyterHeader, type JupyterMessage } from './messages';

/**
 * Jupyter wire format: [identities…, "<IDS|MSG>", signature, header,
 * parent_header, metadata, content, buffers…], signature = HMAC-SHA256 (hex)
 * over the four JSON frames with the connection key.
 */
const DELIMITER = Buffer.from('<IDS|MSG>');

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

export class JupyterSession {
  readonly sessionId: string;

  constructor(
    private readonly key: string,
    readonly username = 'quire',
    sessionId?: string,
  ) {
    this.sessionId = sessionId ?? randomUUID();
  }

  private sign(frames: Buffer[]): string {
    if (!this.key) return '';
    const h = createHmac('sha256', this.key);
    for (const f of frames) h.update(f);
    return h.digest('hex');
  }

  header(msgType: string): JupyterHeader {
    return {
      msg_id: randomUUID(),
      session: this.sessionId,
      username: this.username,
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    };
  }

  serialize(
    msg: Pick<JupyterMessage, 'header' | 'parent_header' | 'metadata' | 'content'> & {
      buffers?: Buffer[];
      identities?: Buffer[];
    },
  ): Buffer[] {
    const body = [msg.header, msg.parent_header, msg.metadata, msg.content].map((x) =>
      Buffer.from(JSON.stringify(x)),
    );
    return [
      ...(msg.identities ?? []),
      DELIMITER,
      Buffer.from(this.sign(body)),
      ...body,
      ...(msg.buffers ?? []),
    ];
  }

  /** Parses and verifies one multipart message; a bad signature is an error, never a message. */
  deserialize(frames: Buffer[], channel: Channel): JupyterMessage {
    const d = frames.findIndex((f) => f.equals(DELIMITER));
    if (d < 0) throw new WireError('no <IDS|MSG> delimiter');
    if (frames.length < d + 6) throw new WireError(`message too short (${frames.length} frames)`);
    const signature = frames[d + 1]!;
    const body = frames.slice(d + 2, d + 6);
    if (this.key) {
      const expected = Buffer.from(this.sign(body));
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
        throw new WireError('bad HMAC signature');
      }
    }
    const [header, parent, metadata, content] = body.map(
      (b) => JSON.parse(b.toString('utf8')) as Record<string, unknown>,
    );
    return {
      header: header as unknown as JupyterHeader,
      parent_header: parent as Partial<JupyterHeader>,
      metadata: metadata!,
      content: content!,
      buffers: frames.slice(d + 6),
      identities: frames.slice(0, d),
      channel,
    };
  }
}
