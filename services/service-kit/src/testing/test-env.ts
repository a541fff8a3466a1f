import { createServer } from 'node:net';

/**
 * Helpers for integration tests and benchmarks that run against the real
 * local platform (what `npm test` starts and exports as QUIRE_* variables).
 */
export function platformVar(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: run integration tests through \`npm test\`, or \`eval "$(npm run -s quire -- env)"\` after \`npm start\``,
    );
  }
  return v;
}

/** A TCP port free on 127.0.0.1 right now (for a server a test starts itself). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}
