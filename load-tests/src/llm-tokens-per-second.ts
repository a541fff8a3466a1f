import { loadavg } from 'node:os';
import { numberArgs } from './lib/args';
import { machine, summarize } from './lib/stats';
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of the local-llm engine in-process (no HTTP in the numbers)
import { loadLocalLlmConfig } from '../../services/local-llm/src/config';
// eslint-disable-next-line @nx/enforce-module-boundaries -- benchmark of the local-llm engine in-process
import { LlamaEngine } from '../../services/local-llm/src/engine/llama-engine';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the prompt the server would build
import { renderChatMl } from '../../services/local-llm/src/chat/render-chatml';
// eslint-disable-next-line @nx/enforce-module-boundaries -- the grammar the server would use
import { replyMode } from '../../services/local-llm/src/chat/tool-protocol';

/**
 * Tokens per second of the embedded local model on this machine: prompt
 * evaluation and generation, p50 over N requests, for free text and for a
 * grammar-constrained tool call with an agent-sized prompt. Each request gets
 * a fresh prompt (a nonce first), so the sequence's prefix cache does not hide
 * the prompt work.
 *
 *   npm run -w @quire/load-tests bench:llm-tokens -- --requests 5 --max-tokens 64 --threads 2
 */
const opts = numberArgs({ requests: 5, maxTokens: 64, threads: 2, context: 4096 });

const TOOLS = [
  {
    name: 'insert_cell',
    description: 'Insert a new Python code cell and run it; returns the cell id and its output.',
    parameters: {
      type: 'object',
      properties: { source: { type: 'string', description: 'The Python code.' } },
      required: ['source'],
    },
  },
  {
    name: 'read_notebook',
    description: 'Read the notebook: every cell with its id, type, source and outputs.',
    parameters: { type: 'object', properties: {} },
  },
  {
    name: 'finish',
    description: 'End the run with a short summary.',
    parameters: { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] },
  },
];
const NOTEBOOK = Array.from(
  { length: 20 },
  (_, i) =>
    `cell c${i} (code): df${i} = df.groupby('region').amount.sum()  # output: r0 1234, r1 2345, r2 3456`,
).join('\n');

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const config = loadLocalLlmConfig({
    ...process.env,
    QUIRE_LOCAL_LLM_THREADS: String(opts.threads),
    QUIRE_LOCAL_LLM_CONTEXT: String(opts.context),
  });
  const t0 = performance.now();
  const engine = await LlamaEngine.load(config);
  const loadMs = performance.now() - t0;
  const scenarios = [
    { name: 'free text, short prompt', tools: [], user: 'Write a short story about a cat.' },
    {
      name: 'tool call (grammar), agent-sized prompt',
      tools: TOOLS,
      user: `Goal: find the anomalies.\n\nThe notebook now:\n${NOTEBOOK}`,
    },
  ];
  const rows: string[] = [];
  for (const s of scenarios) {
    const mode = replyMode(s.tools, 'auto');
    const prompt = { t: [] as number[], tps: [] as number[] };
    const gen = { t: [] as number[], tps: [] as number[] };
    const total: number[] = [];
    let promptTokens = 0;
    let completionTokens = 0;
    for (let i = 0; i <= opts.requests; i++) {
      const rendered = renderChatMl(
        [
          {
            role: 'system',
            content: `Request ${Date.now()}-${i}. You are a data analysis agent in a notebook.`,
          },
          { role: 'user', content: s.user },
        ],
        s.tools,
        mode,
      );
      const started = performance.now();
      const r = await engine.generate({
        prompt: rendered,
        grammarSchema: mode.kind === 'constrained' ? mode.schema : undefined,
        maxTokens: opts.maxTokens,
        temperature: 0,
        signal: new AbortController().signal,
      });
      if (i === 0) continue; // warm-up (grammar compile, first allocation)
      total.push(performance.now() - started);
      promptTokens = r.promptTokens;
      completionTokens = r.completionTokens;
      prompt.t.push(r.promptMs);
      prompt.tps.push((r.promptTokens / r.promptMs) * 1000);
      gen.t.push(r.generationMs);
      // The first generated token is counted in the prompt phase.
      gen.tps.push(((r.completionTokens - 1) / Math.max(1, r.generationMs)) * 1000);
    }
    const p50 = (xs: number[]) => summarize(xs).p50;
    rows.push(
      `| ${s.name} | ${opts.requests} | ${promptTokens} | ${p50(prompt.tps).toFixed(0)} | ${p50(prompt.t).toFixed(0)} | ${completionTokens} | ${p50(gen.tps).toFixed(1)} | ${p50(total).toFixed(0)} |`,
    );
  }
  await engine.close();
  process.stdout.write(
    [
      `Embedded local model ${config.modelId} (${config.modelPath})`,
      `threads ${opts.threads}, context ${opts.context}, max_tokens ${opts.maxTokens}, model load ${loadMs.toFixed(0)} ms`,
      `machine: ${machine()}`,
      '',
      '| scenario | n | prompt tokens | prompt eval p50 (tok/s) | prompt p50 (ms) | completion tokens | generation p50 (tok/s) | request p50 (ms) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      `load average before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
      '',
    ].join('\n'),
  );
}

main().catch((err: Error) => {
  process.stderr.write(`llm-tokens-per-second: ${err.message}\n`);
  process.exit(1);
});
