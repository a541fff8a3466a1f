import { loadLocalLlmConfig } from './config';
import { LlamaEngine } from './engine/llama-engine';
import { createLocalLlmServer, type EngineState } from './http/server';

/**
 * The embedded local model's server. It listens at once (so the launcher sees
 * the port) and loads the model in the background: 503 until then.
 */
async function main(): Promise<void> {
  const config = loadLocalLlmConfig();
  let state: EngineState = { status: 'loading' };
  const log = (line: Record<string, unknown>) =>
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), service: 'local-llm', ...line })}\n`,
    );
  const server = createLocalLlmServer({
    modelId: config.modelId,
    defaultMaxTokens: config.defaultMaxTokens,
    state: () => state,
    log,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  log({ msg: `listening on http://${config.host}:${config.port}`, model: config.modelPath });
  const t0 = performance.now();
  const loading = LlamaEngine.load(config).then(
    (engine) => {
      state = { status: 'ready', engine };
      log({
        msg: 'model loaded',
        ms: Math.round(performance.now() - t0),
        threads: config.threads,
        context: config.contextSize,
      });
      return engine;
    },
    (err: Error) => {
      // Exit rather than answer 503 forever: the launcher sees the process end and shows this log.
      state = { status: 'failed', message: err.message };
      process.stderr.write(`local-llm: the model failed to load: ${err.message}\n`);
      server.close();
      process.exit(1);
    },
  );
  const shutdown = async () => {
    server.closeAllConnections();
    server.close();
    const engine = await loading;
    await engine?.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((err: Error) => {
  process.stderr.write(`local-llm: ${err.message}\n`);
  process.exit(1);
});
