import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LocalLlmConfig } from '../config';
import { isChatMlTemplate } from '../chat/render-chatml';
import type { GrammarSchema } from '../chat/tool-protocol';
import {
  ContextLengthError,
  GenerationAbortedError,
  type GenerateRequest,
  type GenerateResult,
  type InferenceEngine,
} from './inference-engine';
import { RequestQueue } from './request-queue';

/**
 * node-llama-cpp (installed into the cache, not a dependency: see README) with
 * one model, one context and one sequence. The sequence keeps its evaluated
 * tokens between requests, so an agent's next step (the same prompt plus a
 * little) only evaluates what is new.
 */

/** The few node-llama-cpp calls used here, typed locally (the package is not in node_modules). */
interface LlamaModule {
  getLlama(opts: { gpu: false; build: 'never'; logLevel?: string }): Promise<Llama>;
  LlamaCompletion: new (opts: { contextSequence: LlamaSequence }) => LlamaCompletion;
}
interface Llama {
  loadModel(opts: { modelPath: string }): Promise<LlamaModel>;
  createGrammarForJsonSchema(schema: GrammarSchema): Promise<unknown>;
  dispose(): Promise<void>;
}
interface LlamaModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  fileInfo: { metadata: { tokenizer?: { chat_template?: string } } };
  createContext(opts: { contextSize: number; threads: number }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
type LlamaSequence = object;
interface LlamaCompletion {
  generateCompletionWithMeta(
    input: number[],
    opts: {
      grammar?: unknown;
      maxTokens: number;
      temperature?: number;
      topP?: number;
      seed?: number;
      signal?: AbortSignal;
      stopOnAbortSignal?: boolean;
      onToken?: (tokens: number[]) => void;
      onTextChunk?: (text: string) => void;
      customStopTriggers?: string[];
    },
  ): Promise<{ response: string; metadata: { stopReason: string } }>;
}

/** A real dynamic import that the TypeScript/swc CommonJS output does not turn into require (node-llama-cpp is ESM only). */
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

export class RuntimeMissingError extends Error {}

export async function loadLlamaModule(installDir: string): Promise<LlamaModule> {
  const entry = join(installDir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) {
    throw new RuntimeMissingError(
      `node-llama-cpp is not installed in ${installDir} (run: npm run quire -- install, or npm start)`,
    );
  }
  return (await importEsm(pathToFileURL(entry).href)) as LlamaModule;
}

export class LlamaEngine implements InferenceEngine {
  private readonly queue: RequestQueue;
  private readonly grammars = new Map<string, Promise<unknown>>();

  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly completion: LlamaCompletion,
    readonly modelId: string,
    readonly contextSize: number,
    queueLimit: number,
  ) {
    this.queue = new RequestQueue(queueLimit);
  }

  static async load(config: LocalLlmConfig): Promise<LlamaEngine> {
    const mod = await loadLlamaModule(config.installDir);
    if (!existsSync(config.modelPath)) {
      throw new RuntimeMissingError(
        `the model file ${config.modelPath} is missing (run: npm run quire -- install, or set QUIRE_LOCAL_LLM_MODEL_PATH)`,
      );
    }
    const llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: 'warn' });
    const model = await llama.loadModel({ modelPath: config.modelPath });
    const template = model.fileInfo.metadata.tokenizer?.chat_template;
    if (!isChatMlTemplate(template)) {
      await model.dispose();
      await llama.dispose();
      throw new RuntimeMissingError(
        `${config.modelPath}: its chat template is not ChatML (<|im_start|>…<|im_end|>); only ChatML models are supported`,
      );
    }
    const context = await model.createContext({ contextSize: config.contextSize, threads: config.threads });
    const completion = new mod.LlamaCompletion({ contextSequence: context.getSequence() });
    return new LlamaEngine(
      llama,
      model,
      context,
      completion,
      config.modelId,
      config.contextSize,
      config.queueLimit,
    );
  }

  generate(req: GenerateRequest): Promise<GenerateResult> {
    // Tokenize and check the size before queueing: a too-long prompt fails at once.
    const tokens = this.model.tokenize(req.prompt, true);
    if (tokens.length >= this.contextSize) throw new ContextLengthError(tokens.length, this.contextSize);
    return this.queue.run(req.signal, () => this.generateNow(tokens, req));
  }

  private async generateNow(tokens: number[], req: GenerateRequest): Promise<GenerateResult> {
    const grammar = req.grammarSchema ? await this.grammarFor(req.grammarSchema) : undefined;
    const started = performance.now();
    let firstToken: number | undefined;
    let completionTokens = 0;
    const maxTokens = Math.min(req.maxTokens, this.contextSize - tokens.length);
    const result = await this.completion
      .generateCompletionWithMeta(tokens, {
        grammar,
        maxTokens,
        temperature: req.temperature,
        topP: req.topP,
        seed: req.seed,
        signal: req.signal,
        stopOnAbortSignal: false,
        customStopTriggers: grammar ? undefined : ['<|im_end|>'],
        onToken: (t) => {
          firstToken ??= performance.now();
          completionTokens += t.length;
        },
        onTextChunk: req.onText,
      })
      .catch((err: unknown) => {
        if (req.signal.aborted) throw new GenerationAbortedError();
        throw err;
      });
    if (req.signal.aborted || result.metadata.stopReason === 'abort') throw new GenerationAbortedError();
    const ended = performance.now();
    return {
      text: result.response,
      promptTokens: tokens.length,
      completionTokens,
      stopReason: result.metadata.stopReason === 'maxTokens' ? 'length' : 'stop',
      promptMs: (firstToken ?? ended) - started,
      generationMs: ended - (firstToken ?? ended),
    };
  }

  /** Grammars are compiled once per distinct tool set (an agent sends the same tools every step). */
  private grammarFor(schema: GrammarSchema): Promise<unknown> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      if (this.grammars.size > 64) this.grammars.clear();
      g = this.llama.createGrammarForJsonSchema(schema);
      this.grammars.set(key, g);
      g.catch(() => this.grammars.delete(key));
    }
    return g;
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
