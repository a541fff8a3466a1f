import {
  KernelChannelClientMessage,
  NOTEBOOK_ROLE_RANK,
  type KernelChannelServerMessage,
  type NotebookRole,
} from '@quire/contracts';
import { QuireError, type JsonLogger } from '@quire/service-kit';
import type { WebSocket } from 'ws';
import type { Principal } from '../auth/principal';
import type { KernelSessions } from '../kernels/kernel-sessions';
import type { NotebookRow } from '../notebooks/notebooks.repository';

/**
 * The editor's kernel channel (kernel-channel.ts) for one open notebook:
 * commands in, queue / kernel status / IOPub fan-out out. Viewers watch;
 * runners, editors and owners may run and stop. A bad message gets an
 * `error` reply; the socket stays open.
 */
export function handleKernelChannel(
  ws: WebSocket,
  ctx: { principal: Principal; notebook: NotebookRow; role: NotebookRole },
  sessions: KernelSessions,
  logger: JsonLogger,
): void {
  const { principal, notebook, role } = ctx;
  const send = (msg: KernelChannelServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  };
  send({ type: 'hello', notebookId: notebook.id, userId: principal.userId, role });
  const session = sessions.forNotebook(notebook, principal.userId);
  const unsubscribe = session.subscribe(send);
  ws.on('close', unsubscribe);
  // Someone who can run opened the notebook: have the kernel ready (or restoring) before they press Run.
  if (NOTEBOOK_ROLE_RANK[role] >= NOTEBOOK_ROLE_RANK.runner && !session.busy)
    void session.open(principal.userId, 'open').catch((err: unknown) => {
      logger.warn('kernel not started on open', { notebookId: notebook.id, error: String(err) });
    });

  ws.on('message', (data, isBinary) => {
    void (async () => {
      let requestId: string | null = null;
      try {
        if (isBinary) throw new QuireError('validation', 'messages are JSON text', 'channel.bad_message');
        let raw: unknown;
        try {
          raw = JSON.parse(String(data));
        } catch {
          throw new QuireError('validation', 'not JSON', 'channel.bad_message');
        }
        requestId =
          typeof (raw as { requestId?: unknown })?.requestId === 'string'
            ? (raw as { requestId: string }).requestId
            : null;
        const parsed = KernelChannelClientMessage.safeParse(raw);
        if (!parsed.success)
          throw new QuireError(
            'validation',
            parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; '),
            'channel.bad_message',
          );
        const msg = parsed.data;
        if (NOTEBOOK_ROLE_RANK[role] < NOTEBOOK_ROLE_RANK.runner)
          throw new QuireError('forbidden', `a ${role} cannot run or stop the kernel`, 'access.role');
        switch (msg.type) {
          case 'run':
          case 'run_all': {
            const runs = await sessions.runCells(
              notebook,
              principal,
              msg.type === 'run' ? msg.cellIds : 'all',
              msg.editsUpTo,
              principal.agentRunId ? 'agent' : 'human',
            );
            send({ type: 'ack', requestId: msg.requestId, executionIds: runs.map((r) => r.executionId) });
            return;
          }
          case 'interrupt':
            await session.interrupt(principal.userId);
            break;
          case 'restart':
            await session.terminate(principal.userId, 'restart', `restarted by ${principal.name}`);
            break;
          case 'force_terminate':
            await session.terminate(principal.userId, 'force-terminate', `stopped by ${principal.name}`);
            break;
          case 'input_reply':
            await session.inputReply(msg.executionId, msg.value);
            break;
          case 'complete': {
            const r = await session.shellRequest({
              msgType: 'complete_request',
              content: { code: msg.code, cursor_pos: msg.cursorPos },
            });
            send(completeReply(msg.requestId, msg.cursorPos, r.content));
            return;
          }
          case 'inspect': {
            const r = await session.shellRequest({
              msgType: 'inspect_request',
              content: { code: msg.code, cursor_pos: msg.cursorPos, detail_level: 0 },
            });
            send(inspectReply(msg.requestId, r.content));
            return;
          }
          case 'cancel':
            if (!(await session.cancel(msg.executionId, principal.userId)))
              throw new QuireError(
                'conflict',
                'that run is not queued (running or finished)',
                'kernel.not_queued',
              );
            break;
        }
        send({ type: 'ack', requestId: msg.requestId });
      } catch (err) {
        const e =
          err instanceof QuireError ? err : new QuireError('internal', 'something went wrong on our side');
        if (!(err instanceof QuireError))
          logger.error('kernel channel command failed', { error: String(err) });
        send({ type: 'error', requestId, code: e.code, message: e.message });
      }
    })();
  });
}

/** A kernel's complete_reply in the channel's terms; an error reply from the kernel is said as one. */
export function completeReply(
  requestId: string,
  cursorPos: number,
  content: Record<string, unknown>,
): KernelChannelServerMessage {
  if (content.status !== 'ok')
    throw new QuireError(
      'unavailable',
      `the kernel could not complete: ${String(content.evalue ?? content.status)}`,
      'kernel.complete_failed',
    );
  const matches = Array.isArray(content.matches)
    ? content.matches.filter((m): m is string => typeof m === 'string')
    : [];
  const experimental = (
    content.metadata as { _jupyter_types_experimental?: { text?: unknown; type?: unknown }[] } | undefined
  )?._jupyter_types_experimental;
  const typeOf = new Map<string, string>();
  if (Array.isArray(experimental))
    for (const e of experimental)
      if (typeof e.text === 'string' && typeof e.type === 'string') typeOf.set(e.text, e.type);
  return {
    type: 'complete_reply',
    requestId,
    matches,
    cursorStart: typeof content.cursor_start === 'number' ? content.cursor_start : cursorPos,
    cursorEnd: typeof content.cursor_end === 'number' ? content.cursor_end : cursorPos,
    types: typeOf.size ? matches.map((m) => typeOf.get(m) ?? null) : null,
  };
}

// eslint-disable-next-line no-control-regex -- ANSI colour codes in IPython's docs
const ANSI = /\u001b\[[0-9;]*m/g;

export function inspectReply(
  requestId: string,
  content: Record<string, unknown>,
): KernelChannelServerMessage {
  if (content.status !== 'ok')
    throw new QuireError(
      'unavailable',
      `the kernel could not inspect: ${String(content.evalue ?? content.status)}`,
      'kernel.inspect_failed',
    );
  const data = (content.data ?? {}) as Record<string, unknown>;
  const text = typeof data['text/plain'] === 'string' ? data['text/plain'].replace(ANSI, '') : '';
  return { type: 'inspect_reply', requestId, found: content.found === true && text.length > 0, text };
}
