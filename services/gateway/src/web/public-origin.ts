import type { IncomingMessage } from 'node:http';
import type { GatewayConfig } from '../config';

/** This gateway's origin as clients see it: QUIRE_PUBLIC_URL, else the request's Host. */
export function publicOrigin(cfg: GatewayConfig, req: IncomingMessage): string {
  if (cfg.QUIRE_PUBLIC_URL) return new URL(cfg.QUIRE_PUBLIC_URL).origin;
  const proto = (req.headers['x-forwarded-proto'] as string | undefined)?.split(',')[0] ?? 'http';
  return `${proto}://${req.headers.host ?? `127.0.0.1:${cfg.QUIRE_GATEWAY_PORT}`}`;
}
