import type { ServerResponse } from 'node:http';
import { BadRequestError, parseChatCompletionRequest } from '../chat/chat-request';
import {
  chunkWriter,
  completionBody,
  SSE_DONE,
  sseData,
  errorBody,
  type CompletionResult,
  type FinishReason,
} from '../chat/openai-format';
import { renderChatMl } from '../chat/render-chatml';
import { parseReply, replyMode } from '../chat/tool-protocol';
import type { InferenceEngine } from '../engine/inference-engine';

/**
 * POST /v1/chat/completions: request → prompt (ChatML) and reply mode (free
 * text or grammar) → one generation → OpenAI JSON, or SSE chunks. With a
 * grammar the reply is parsed before anything is sent (a tool call is only
 * known when its JSON is complete); free text streams as it is generated.
 */
let counter = 0;
const completionId = () => `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;

export interface ChatCompletionOutcome {
  result?: CompletionResult;
  promptMs?: number;
  generationMs?: number;
}

export async function handleChatCompletion(
  body: unknown,
  engine: InferenceEngine,
  defaultMaxTokens: number,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<ChatCompletionOutcome> {
  const req = parseChatCompletionRequest(body);
  const tools = (req.tools ?? []).map((t) => t.function);
  const mode = replyMode(tools, req.tool_choice);
  const prompt = renderChatMl(req.messages, tools, mode);
  const meta = { id: completionId(), created: Math.floor(Date.now() / 1000), model: engine.modelId };
  const chunks = chunkWriter(meta);
  const streamText = req.stream === true && mode.kind === 'text';

  // Text generated before the headers are out (an engine may call back early) waits here.
  let early: string[] | undefined = [];
  // Throws a ContextLengthError synchronously, before any header is sent.
  const pending = engine.generate({
    prompt,
    grammarSchema: mode.kind === 'constrained' ? mode.schema : undefined,
    maxTokens: req.max_completion_tokens ?? req.max_tokens ?? defaultMaxTokens,
    temperature: req.temperature,
    topP: req.top_p,
    seed: req.seed,
    signal,
    onText: streamText ? (t) => (early ? early.push(t) : res.write(chunks.content(t))) : undefined,
  });
  if (req.stream) {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(chunks.role());
    for (const t of early) res.write(chunks.content(t));
  }
  early = undefined;
  let generated;
  try {
    generated = await pending;
  } catch (err) {
    if (!req.stream || signal.aborted) throw err;
    res.end(sseData(errorBody(`generation failed: ${(err as Error).message}`, 'server_error')));
    return {};
  }
  const parsed = parseReply(generated.text, mode);
  const reply = parsed ?? { content: generated.text, toolCalls: [] };
  const finishReason: FinishReason =
    reply.toolCalls.length > 0 ? 'tool_calls' : parsed && generated.stopReason === 'stop' ? 'stop' : 'length';
  const result: CompletionResult = {
    ...meta,
    reply,
    finishReason,
    promptTokens: generated.promptTokens,
    completionTokens: generated.completionTokens,
  };
  if (!req.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(completionBody(result)));
  } else {
    if (!streamText && reply.content) res.write(chunks.content(reply.content));
    reply.toolCalls.forEach((c, i) => {
      for (const chunk of chunks.toolCall(i, c.name, JSON.stringify(c.arguments))) res.write(chunk);
    });
    res.write(chunks.finish(finishReason));
    if (req.stream_options?.include_usage) {
      res.write(
        chunks.usage({
          prompt_tokens: result.promptTokens,
          completion_tokens: result.completionTokens,
          total_tokens: result.promptTokens + result.completionTokens,
        }),
      );
    }
    res.end(SSE_DONE);
  }
  return { result, promptMs: generated.promptMs, generationMs: generated.generationMs };
}

export { BadRequestError };
