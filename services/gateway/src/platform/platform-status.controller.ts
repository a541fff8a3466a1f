import { Controller, Get, Header, Inject } from '@nestjs/common';
import { Readiness } from '@quire/service-kit';

/**
 * What `npm start` points people at until the editor exists: which parts of
 * the platform are up. The editor (services/web) will take over `/`.
 */
@Controller()
export class PlatformStatusController {
  constructor(@Inject(Readiness) private readonly readiness: Readiness) {}

  @Get('api/platform/status')
  async status(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    return this.readiness.evaluate();
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  async home(): Promise<string> {
    const { ready, checks } = await this.readiness.evaluate();
    const rows = Object.entries(checks)
      .map(
        ([name, state]) =>
          `<tr><td>${escape(name)}</td><td class="${state === 'ok' ? 'ok' : 'bad'}">${escape(state)}</td></tr>`,
      )
      .join('');
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Quire</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;color:#1d2330}
h1{font-size:1.6rem}table{border-collapse:collapse;width:100%}td{padding:.4rem .6rem;border-bottom:1px solid #e3e6ec}
.ok{color:#17803d}.bad{color:#b42318}small{color:#5b6476}</style></head>
<body><h1>Quire ${ready ? 'is running' : 'is starting'}</h1>
<p>The platform’s pieces, as this gateway sees them:</p><table>${rows}</table>
<p><small>Machine-readable: <a href="/api/platform/status">/api/platform/status</a> · <a href="/readyz">/readyz</a> · <a href="/metrics">/metrics</a></small></p>
</body></html>`;
  }
}

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
