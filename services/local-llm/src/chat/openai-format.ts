import type { ParsedReply } from './tool-protocol';

/** OpenAI Chat Completions response shapes: one JSON body, or SSE chunks. */
export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface CompletionResult {
  id: string;
  created: number;
  model: string;
  reply: ParsedReply;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

export function usageOf(r: Pick<CompletionResult, 'promptTokens' | 'completionTokens'>): Usage {
  return {
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens + r.completionTokens,
  };
}

/** Tool call ids are `call_<n>`, numbered per response. */
export function toolCallsJson(reply: ParsedReply) {
  return reply.toolCalls.map((c, i) => ({
    id: `call_${i}`,
    type: 'function' as const,
    function: { name: c.name, arguments: JSON.stringify(c.arguments) },
  }));
}

export function completionBody(r: CompletionResult) {
  const toolCalls = toolCallsJson(r.reply);
  return {
    id: r.id,
    object: 'chat.completion',
    created: r.created,
    model: r.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: r.reply.content,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: r.finishReason,
        logprobs: null,
      },
    ],
    usage: usageOf(r),
  };
}

export const sseData = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
export const SSE_DONE = 'data: [DONE]\n\n';

/** Chunk builders that share a response's id, time and model. */
export function chunkWriter(meta: { id: string; created: number; model: string }) {
  const chunk = (delta: Record<string, unknown>, finishReason: FinishReason | null = null) =>
    sseData({
      id: meta.id,
      object: 'chat.completion.chunk',
      created: meta.created,
      model: meta.model,
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    });
  return {
    role: () => chunk({ role: 'assistant', content: '' }),
    content: (text: string) => chunk({ content: text }),
    /** A tool call as OpenAI streams it: id, type and name first, then the arguments in pieces. */
    toolCall: (index: number, name: string, argumentsJson: string, pieceSize = 64): string[] => {
      const out = [
        chunk({
          tool_calls: [{ index, id: `call_${index}`, type: 'function', function: { name, arguments: '' } }],
        }),
      ];
      for (let i = 0; i < argumentsJson.length; i += pieceSize) {
        out.push(
          chunk({ tool_calls: [{ index, function: { arguments: argumentsJson.slice(i, i + pieceSize) } }] }),
        );
      }
      return out;
    },
    finish: (reason: FinishReason) => chunk({}, reason),
    usage: (usage: Usage) =>
      sseData({
        id: meta.id,
        object: 'chat.completion.chunk',
        created: meta.created,
        model: meta.model,
        choices: [],
        usage,
      }),
  };
}

export function errorBody(message: string, type: string, param?: string, code?: string) {
  return { error: { message, type, param: param ?? null, code: code ?? null } };
}
