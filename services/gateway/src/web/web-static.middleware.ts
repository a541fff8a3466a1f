import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Paths that are never the editor's. */
const NOT_WEB = /^\/(api|healthz|readyz|metrics)(\/|$)/;

/**
 * Serves the web editor's build (QUIRE_WEB_DIST) at `/`, with the SPA
 * fallback (unknown paths get index.html, so /notebooks/:id deep links work).
 * Without a build, `/` stays the platform status page.
 */
@Injectable()
export class WebStaticMiddleware implements NestMiddleware {
  private readonly root: string;

  constructor(@Inject(GATEWAY_CONFIG) cfg: GatewayConfig) {
    this.root = resolve(cfg.QUIRE_WEB_DIST);
  }

  use(req: Request, res: Response, next: NextFunction): void {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || NOT_WEB.test(req.path)) return next();
    const index = join(this.root, 'index.html');
    if (!existsSync(index)) return next();
    let path: string;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      return next(); // malformed escape: not a file of ours
    }
    let file = resolve(this.root, `.${path}`);
    if (file !== this.root && !file.startsWith(this.root + sep)) return next();
    const isFile = existsSync(file) && statSync(file).isFile();
    if (!isFile) {
      // Asset-looking paths 404; everything else is a client-side route.
      if (extname(req.path)) return next();
      file = index;
    }
    const st = statSync(file);
    res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.setHeader('content-length', String(st.size));
    res.setHeader('cache-control', file === index ? 'no-cache' : 'public, max-age=3600');
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  }
}
