import { DocErrors } from '../errors';
import type { ConnectContext, Extension } from '../server/hooks';

/**
 * onConnect: a browser handshake from a page on a foreign origin is refused
 * (cross-site WebSocket hijacking). Non-browser clients send no Origin; they
 * still need a valid token, so they are let through to onAuthenticate.
 */
export class OriginAllowlist implements Extension {
  readonly name = 'origin-allowlist';
  private readonly allowed: Set<string>;

  constructor(origins: readonly string[]) {
    this.allowed = new Set(origins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  }

  onConnect(ctx: ConnectContext): void {
    if (ctx.origin === undefined) return;
    if (!this.allowed.has(ctx.origin.replace(/\/+$/, '').toLowerCase())) {
      throw DocErrors.forbidden(`origin ${ctx.origin.slice(0, 60)} is not allowed`);
    }
  }
}
