import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TOKEN_AUDIENCES, WS_TOKEN_SUBPROTOCOL_PREFIX } from '@quire/contracts';
import { ERROR_KINDS, QuireError, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_RULES } from '../auth/access-rules';
import { AccessService } from '../auth/access.service';
import { tokenOf, type Principal } from '../auth/principal';
import { TokenService } from '../auth/tokens';
import { allowedOrigins, GATEWAY_CONFIG, type GatewayConfig } from '../config';
import { V1_PROTOCOL } from '../jupyter/wire';
import { KernelSessions } from '../kernels/kernel-sessions';
import { handleJupyterChannels } from './jupyter-channels.handler';
import { handleKernelChannel } from './kernel-channel.handler';

/**
 * Every WebSocket of the gateway arrives here, on the HTTP upgrade: Origin
 * checked against the allowlist (browsers always send one; a missing Origin
 * is a non-browser client, which cannot be driven cross-site), the token and
 * access rule checked before the handshake completes, frames above
 * QUIRE_WS_MAX_FRAME_BYTES closed with 1009 (by `ws`'s maxPayload).
 */
@Injectable()
export class WebSocketGateway implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly wss: WebSocketServer;
  private readonly origins: Set<string>;

  constructor(
    @Inject(HttpAdapterHost) private readonly adapter: HttpAdapterHost,
    @Inject(GATEWAY_CONFIG) cfg: GatewayConfig,
    @Inject(AccessService) private readonly access: AccessService,
    @Inject(KernelSessions) private readonly sessions: KernelSessions,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    this.origins = allowedOrigins(cfg);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: cfg.QUIRE_WS_MAX_FRAME_BYTES,
      handleProtocols: (offered) => {
        if (offered.has(V1_PROTOCOL)) return V1_PROTOCOL;
        const list = [...offered];
        return list.find((p) => !p.startsWith(WS_TOKEN_SUBPROTOCOL_PREFIX)) ?? list[0] ?? false;
      },
    });
  }

  onApplicationBootstrap(): void {
    const server = this.adapter.httpAdapter.getHttpServer() as import('node:http').Server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.upgrade(req, socket, head).catch((err: unknown) => {
        const e = err instanceof QuireError ? err : new QuireError('internal', 'handshake failed');
        if (!(err instanceof QuireError))
          this.logger.error('websocket handshake failed', { error: String(err) });
        refuse(socket, e);
      });
    });
  }

  onApplicationShutdown(): void {
    for (const c of this.wss.clients) c.close(1001, 'gateway shutting down');
    this.wss.close();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const origin = req.headers.origin;
    if (origin && !this.origins.has(origin))
      throw new QuireError('forbidden', `origin ${origin} is not allowed`, 'ws.origin_refused');
    const token = tokenOf(req);
    let m: RegExpExecArray | null;
    if ((m = WS_RULES.kernelChannel.path.exec(path))) {
      const notebookId = decodeURIComponent(m[1]!);
      // An agent run's token opens this one route (its own notebook); every other route takes user tokens only.
      const ctx =
        token && TokenService.audienceOf(token) === TOKEN_AUDIENCES.agent
          ? await this.access.checkAgent(token, notebookId)
          : await this.access.check(WS_RULES.kernelChannel.rule, token, notebookId);
      const ws = await this.accept(req, socket, head);
      handleKernelChannel(
        ws,
        { principal: ctx.principal as Principal, notebook: ctx.notebook!, role: ctx.role! },
        this.sessions,
        this.logger,
      );
      return;
    }
    if ((m = WS_RULES.jupyterChannels.path.exec(path))) {
      const kernelId = decodeURIComponent(m[1]!);
      const ctx = await this.access.check(WS_RULES.jupyterChannels.rule, token, kernelId);
      const principal = ctx.principal as Principal;
      const session = this.sessions.session({
        kernelId,
        notebookId: `jupyter-${kernelId}`,
        tenant: principal.orgId,
        userId: principal.userId,
      });
      const ws = await this.accept(req, socket, head);
      const clientSession = new URL(req.url ?? '/', 'http://x').searchParams.get('session_id') ?? '';
      handleJupyterChannels(ws, { principal, session, protocol: ws.protocol, clientSession }, this.logger);
      return;
    }
    throw new QuireError('not_found', `no WebSocket at ${path}`, 'ws.not_found');
  }

  private accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
    return new Promise((resolve) =>
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        // Oversized frames and protocol errors arrive here; `ws` closes the socket itself (1009, 1002).
        ws.on('error', (err) => this.logger.info('websocket closed on error', { error: err.message }));
        resolve(ws);
      }),
    );
  }
}

/** Refuses a handshake with a plain HTTP status (browsers surface it as a failed connection). */
function refuse(socket: Duplex, e: QuireError): void {
  const status = ERROR_KINDS[e.kind].status;
  const body = JSON.stringify({ status, code: e.code, detail: e.message });
  socket.end(
    `HTTP/1.1 ${status} ${ERROR_KINDS[e.kind].title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
