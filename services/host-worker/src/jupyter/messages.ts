/**
 * Jupyter messaging protocol types (jupyter-client "messaging", protocol 5.3).
 * https://jupyter-client.readthedocs.io/en/stable/messaging.html
 */
export const PROTOCOL_VERSION = '5.3';

export type Channel = 'shell' | 'control' | 'stdin' | 'iopub' | 'hb';

export interface JupyterHeader {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface JupyterMessage<C = Record<string, unknown>> {
  header: JupyterHeader;
  parent_header: Partial<JupyterHeader>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
  /** ZeroMQ routing identities before the delimiter. */
  identities: Buffer[];
  channel: Channel;
}

export interface ExecuteReplyContent {
  status: 'ok' | 'error' | 'aborted';
  execution_count: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

/** The IOPub messages a cell can produce, streamed to the caller as they arrive. */
export type IopubMsgType =
  | 'status'
  | 'stream'
  | 'display_data'
  | 'update_display_data'
  | 'execute_input'
  | 'execute_result'
  | 'error'
  | 'clear_output'
  | 'comm_open'
  | 'comm_msg'
  | 'comm_close';
