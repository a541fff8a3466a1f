import { z } from 'zod';

/**
 * The subset of OpenAI's Chat Completions request this server understands.
 * Unknown fields are ignored (clients send many); known ones are checked, and a
 * bad one is a 400 that names the field.
 */
const toolCall = z.object({
  id: z.string().optional(),
  type: z.literal('function').optional(),
  function: z.object({
    name: z.string().min(1),
    arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  }),
});

const textContent = z.union([
  z.string(),
  z.null(),
  z.array(z.object({ type: z.string(), text: z.string().optional() }).loose()),
]);

const message = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: textContent }),
  z.object({ role: z.literal('developer'), content: textContent }),
  z.object({ role: z.literal('user'), content: textContent }),
  z.object({
    role: z.literal('assistant'),
    content: textContent.optional(),
    tool_calls: z.array(toolCall).optional(),
  }),
  z.object({
    role: z.literal('tool'),
    content: textContent,
    tool_call_id: z.string().optional(),
    name: z.string().optional(),
  }),
]);

const functionTool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ or -, at most 64'),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1) }) }),
]);

export const chatCompletionRequestSchema = z.object({
  model: z.string().optional(),
  messages: z.array(message).min(1, 'at least one message'),
  tools: z.array(functionTool).optional(),
  tool_choice: toolChoice.optional(),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  seed: z.number().int().optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatMessage = ChatCompletionRequest['messages'][number];
export type FunctionTool = NonNullable<ChatCompletionRequest['tools']>[number]['function'];
export type ToolChoice = NonNullable<ChatCompletionRequest['tool_choice']>;

export class BadRequestError extends Error {
  constructor(
    message: string,
    readonly param?: string,
    readonly code = 'invalid_request_error',
  ) {
    super(message);
  }
}

export function parseChatCompletionRequest(body: unknown): ChatCompletionRequest {
  const parsed = chatCompletionRequestSchema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    const where = first.path.join('.');
    throw new BadRequestError(`${where || 'body'}: ${first.message}`, where || undefined);
  }
  const req = parsed.data;
  const names = new Set((req.tools ?? []).map((t) => t.function.name));
  if (names.size !== (req.tools ?? []).length)
    throw new BadRequestError('tools: duplicate function names', 'tools');
  const choice = req.tool_choice;
  if (choice && typeof choice === 'object' && !names.has(choice.function.name)) {
    throw new BadRequestError(`tool_choice: no tool named ${choice.function.name}`, 'tool_choice');
  }
  if (choice === 'required' && names.size === 0) {
    throw new BadRequestError('tool_choice: "required" needs at least one tool', 'tool_choice');
  }
  return req;
}

/** A message's content as plain text (text parts joined; other parts are not understood by this model). */
export function contentText(content: z.infer<typeof textContent> | undefined): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((p) => p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('');
}
