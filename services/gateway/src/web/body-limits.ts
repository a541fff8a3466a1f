import { Inject, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ExpressAdapter } from '@nestjs/platform-express';

/** Largest JSON body: an imported .ipynb may carry images (the document limit is 50 MB). */
export const MAX_JSON_BODY = '60mb';

/**
 * Registers the JSON body parser with a limit that fits notebooks. It must run
 * before Nest's own (100 kB) parser is registered at init: Nest skips its
 * parser when one named `jsonParser` is already there — hence a provider
 * constructor, which runs during module instantiation, before init.
 */
@Injectable()
export class BodyLimits {
  constructor(@Inject(HttpAdapterHost) host: HttpAdapterHost) {
    const adapter = host.httpAdapter as unknown as ExpressAdapter | undefined;
    adapter?.useBodyParser('json', false, {
      limit: MAX_JSON_BODY,
      // Jupyter clients (JupyterLab's ServerConnection) POST JSON as fetch's default text/plain.
      type: (req: { headers: Record<string, string | string[] | undefined> }) => {
        const type = req.headers['content-type'];
        return type === undefined || /\bjson\b|^text\/plain\b/i.test(String(type));
      },
    });
  }
}
