import { uuidv7 } from '@quire/contracts';
import type { JsonLogger } from '@quire/service-kit';
import type { WebSocket } from 'ws';
import type { Principal } from '../auth/principal';
import { decode, encode, type WireMessage } from '../jupyter/wire';
import type { KernelSession, Run, RunResult } from '../kernels/kernel-session';

/** What Quire kernels say they are (the host API runs ipykernel; it has no kernel_info passthrough). */
export const KERNEL_INFO = {
  status: 'ok',
  protocol_version: '5.3',
  implementation: 'ipython',
  implementation_version: '',
  language_info: {
    name: 'python',
    version: '3',
    mimetype: 'text/x-python',
    file_extension: '.py',
    pygments_lexer: 'ipython3',
    codemirror_mode: { name: 'ipython', version: 3 },
    nbconvert_exporter: 'python',
  },
  banner: 'Quire kernel (IPython, sandboxed)',
  help_links: [],
};

/**
 * `/api/kernels/{id}/channels`, Jupyter Server–compatible: shell, control,
 * stdin and iopub multiplexed on one socket, as JSON text (legacy) or the v1
 * binary framing. Execute requests go through the kernel's queue like the
 * editor's runs (so both never run on the kernel at the same time); replies
 * and IOPub carry the client's request header as parent.
 */
export function handleJupyterChannels(
  ws: WebSocket,
  ctx: { principal: Principal; session: KernelSession; protocol: string; clientSession: string },
  logger: JsonLogger,
): void {
  const { principal, session, protocol } = ctx;
  const serverSession = uuidv7();
  const send = (
    channel: string,
    msgType: string,
    parent: WireMessage['header'] | Record<string, unknown>,
    content: Record<string, unknown>,
    metadata: Record<string, unknown> = {},
  ) => {
    if (ws.readyState !== ws.OPEN) return;
    const msg: WireMessage = {
      channel,
      header: {
        msg_id: uuidv7(),
        msg_type: msgType,
        username: principal.name,
        session: serverSession,
        date: new Date().toISOString(),
        version: '5.3',
      },
      parent_header: parent,
      metadata,
      content,
    };
    ws.send(encode(msg, protocol));
  };
  const status = (parent: Record<string, unknown>, state: 'busy' | 'idle' | 'starting') =>
    send('iopub', 'status', parent, { execution_state: state });
  /** Answers a request the way a kernel does: busy, reply, idle. */
  const reply = (req: WireMessage, channel: string, content: Record<string, unknown>) => {
    status(req.header, 'busy');
    send(channel, req.header.msg_type.replace(/_request$/, '_reply'), req.header, content);
    status(req.header, 'idle');
  };
  const pending = new Map<string, WireMessage['header']>();

  ws.on('message', (data: Buffer, isBinary) => {
    let req: WireMessage;
    try {
      req = decode(data, isBinary, protocol);
    } catch (err) {
      logger.warn('bad Jupyter message', { error: String(err) });
      return;
    }
    logger.debug('jupyter message', { channel: req.channel, msgType: req.header.msg_type });
    void (async () => {
      const t = req.header.msg_type;
      try {
        switch (t) {
          case 'kernel_info_request':
            return reply(req, req.channel, KERNEL_INFO);
          case 'execute_request': {
            const code = String(req.content.code ?? '');
            const silent = req.content.silent === true;
            const sink = {
              onStart: (run: Run) => {
                status(req.header, 'busy');
                // The kernel announces the count before running; the host API reports it with the reply, so predict it.
                if (!silent)
                  send('iopub', 'execute_input', req.header, {
                    code,
                    execution_count: session.lastExecutionCount + 1,
                  });
                pending.set(run.executionId, req.header);
              },
              onIopub: (
                _run: Run,
                msgType: string,
                content: Record<string, unknown>,
                metadata: Record<string, unknown>,
              ) => {
                if (!silent || msgType === 'error') send('iopub', msgType, req.header, content, metadata);
              },
              onInputRequest: (_run: Run, prompt: string, password: boolean) =>
                send('stdin', 'input_request', req.header, { prompt, password }),
              onFinish: (run: Run, r: RunResult) => {
                pending.delete(run.executionId);
                send('shell', 'execute_reply', req.header, executeReply(r));
                status(req.header, 'idle');
              },
            };
            session.enqueue([
              {
                cellId: null,
                userId: principal.userId,
                userName: principal.name,
                code,
                batchId: String(req.header.msg_id),
                origin: 'jupyter-api',
                sink,
              },
            ]);
            return;
          }
          case 'input_reply': {
            const running = session.queueEntries().find((e) => e.position === 0);
            if (running) await session.inputReply(running.executionId, String(req.content.value ?? ''));
            return;
          }
          case 'interrupt_request':
            await session.interrupt(principal.userId);
            return reply(req, 'control', { status: 'ok' });
          case 'shutdown_request': {
            const restart = req.content.restart === true;
            await session.terminate(
              principal.userId,
              restart ? 'restart' : 'shutdown',
              'Jupyter shutdown_request',
            );
            return reply(req, 'control', { status: 'ok', restart });
          }
          case 'complete_request':
          case 'inspect_request':
          case 'is_complete_request':
          case 'history_request':
          case 'comm_info_request': {
            // The kernel answers; these never wait in the execute queue.
            const answer = await session.shellRequest({ msgType: t, content: req.content });
            return reply(req, 'shell', answer.content);
          }
          default:
            // comm_open/comm_msg/comm_close (widgets) need the kernel's comm messages relayed both
            // ways: not built yet. Said in the log, never answered falsely.
            logger.warn('Jupyter message not supported through the gateway', { msgType: t });
            return;
        }
      } catch (err) {
        logger.warn('Jupyter request failed', { msgType: t, error: String(err) });
        if (t.endsWith('_request'))
          reply(req, req.channel, {
            status: 'error',
            ename: 'QuireError',
            evalue: (err as Error).message,
            traceback: [],
          });
      }
    })();
  });
}

function executeReply(r: RunResult): Record<string, unknown> {
  if (r.reply) return { user_expressions: {}, payload: [], ...r.reply };
  if (r.status === 'aborted') return { status: 'aborted', execution_count: null };
  return {
    status: 'error',
    execution_count: r.executionCount,
    ename: r.status === 'kernel_died' ? 'KernelDied' : 'QuireError',
    evalue: r.message ?? r.status,
    traceback: [],
  };
}
