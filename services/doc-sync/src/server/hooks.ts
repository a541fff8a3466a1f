import type { NotebookRole } from '@quire/contracts';
import type { IncomingMessage } from 'node:http';
import type { Connection } from './connection';
import type { DocumentSession } from './document-session';

/**
 * doc-sync is a pipeline of lifecycle hooks. Each extension (one file each in
 * src/extensions/, each tested by a spec named after its hook) implements the
 * hooks it cares about; the server runs them in the order the extensions are
 * given. A hook refuses by throwing a QuireError; its code decides the close
 * code (errors.ts).
 *
 *   onConnect       handshake arrived (Origin, headers)              → refuse
 *   onAuthenticate  token → identity (first identity returned wins)  → refuse
 *   onLoad          fill a freshly opened document from storage      → refuse (4503)
 *   beforeChange    an update is about to be applied (limits)        → refuse
 *   onChange        an update was applied; resolve when it is durable
 *   onStore         persist now (periodic, last client left, shutdown, API)
 *   onPersisted     something became durable (events)
 *   onJoin          a connection is in (authenticated, document loaded)
 *   onDisconnect    a connection went away
 *   onUnload        a document is leaving memory (stop timers)
 *   onCreated       a notebook was created through the internal API
 */
export interface ConnectContext {
  notebookId: string;
  request: IncomingMessage;
  origin: string | undefined;
  /** From `?token=` or the `quire.bearer.<token>` subprotocol. */
  token: string | undefined;
}

export interface Identity {
  userId: string;
  org: string;
  name: string;
  role: NotebookRole | 'service';
  /** viewer and runner: may read and show presence, never change the document. */
  readOnly: boolean;
}

export interface LoadContext {
  notebookId: string;
  session: DocumentSession;
}

export interface ChangeContext {
  session: DocumentSession;
  update: Uint8Array;
  seq: number;
  origin: unknown;
}

export interface BeforeChangeContext {
  session: DocumentSession;
  update: Uint8Array;
  connection: Connection | undefined;
}

export type StoreReason = 'periodic' | 'last-client-left' | 'shutdown' | 'import' | 'restore';

export interface StoreContext {
  session: DocumentSession;
  reason: StoreReason;
  /** Write a snapshot even if nothing changed since the last one (versions the user asked for). */
  force: boolean;
}

export interface PersistedContext {
  notebookId: string;
  org: string;
  kind: 'ops' | 'snapshot';
  seq: number;
  bytes: number;
}

export interface DisconnectContext {
  session: DocumentSession;
  connection: Connection;
}

export interface CreatedContext {
  notebookId: string;
  org: string;
  title: string;
  createdBy: string;
  importedFrom: string | null;
}

export interface Extension {
  readonly name: string;
  onConnect?(ctx: ConnectContext): Promise<void> | void;
  onAuthenticate?(ctx: ConnectContext): Promise<Identity | undefined>;
  onLoad?(ctx: LoadContext): Promise<void>;
  beforeChange?(ctx: BeforeChangeContext): void;
  onChange?(ctx: ChangeContext): Promise<void> | void;
  onStore?(ctx: StoreContext): Promise<void>;
  onPersisted?(ctx: PersistedContext): Promise<void> | void;
  /** A connection is in: authenticated, document loaded. */
  onJoin?(ctx: DisconnectContext): void;
  onDisconnect?(ctx: DisconnectContext): Promise<void> | void;
  onUnload?(ctx: LoadContext): Promise<void> | void;
  onCreated?(ctx: CreatedContext): Promise<void> | void;
  onDestroy?(): Promise<void> | void;
}
