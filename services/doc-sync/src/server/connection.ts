import type { WebSocket } from 'ws';
import type { Identity } from './hooks';

/** One WebSocket client of one document. */
export class Connection {
  /** Awareness client ids this connection introduced (removed when it leaves). */
  readonly awarenessClients = new Set<number>();
  identity: Identity | undefined;
  /** Frames that arrived while authentication and loading were still running. */
  readonly queued: Uint8Array[] = [];
  ready = false;
  closed = false;

  constructor(
    readonly ws: WebSocket,
    readonly notebookId: string,
    /** The client asked for durability acknowledgements (`?ack=1`). */
    readonly wantsAck: boolean,
  ) {}

  get readOnly(): boolean {
    return this.identity?.readOnly ?? true;
  }

  send(frame: Uint8Array): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(frame, { binary: true }, (err) => {
      if (err) this.close(1011, 'send failed');
    });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
  }
}
