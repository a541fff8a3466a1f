/**
 * The peers, each as its own process so its CPU and memory can be read from
 * /proc: `peer-servers.ts hocuspocus <port>` (@hocuspocus/server 3.4.4, no
 * extensions) or `peer-servers.ts y-websocket <port>` (y-websocket 1.5.4's
 * classic server, `bin/utils` setupWSConnection, in memory).
 * Neither persists anything; doc-sync writes every update to PostgreSQL
 * before acknowledging it. RESULTS.md says so next to the figures.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const [kind, portArg] = process.argv.slice(2);
const port = Number(portArg);

async function main(): Promise<void> {
  if (kind === 'hocuspocus') {
    const { Server } = await import('@hocuspocus/server');
    const server = new Server({ port, address: '127.0.0.1', quiet: true });
    await server.listen();
  } else if (kind === 'y-websocket') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { setupWSConnection } = require('y-websocket-classic-server/bin/utils') as {
      setupWSConnection: (ws: unknown, req: unknown, opts: { docName: string; gc: boolean }) => void;
    };
    const http = createServer((_req, res) => res.writeHead(200).end('ok'));
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws, req) =>
      setupWSConnection(ws, req, { docName: (req.url ?? '/').slice(1).split('?')[0]!, gc: true }),
    );
    await new Promise<void>((r) => http.listen(port, '127.0.0.1', r));
  } else {
    throw new Error(`unknown peer ${kind}`);
  }
  process.stdout.write('LISTENING\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
