import type { FunctionTool, ToolChoice } from './chat-request';

/**
 * How a tiny model calls tools: its output is constrained by a grammar built
 * from a JSON schema, so it answers either `{"tool": <name>, "arguments": {…}}`
 * (one of the tools offered, arguments shaped by that tool's schema) or
 * `{"answer": "<text>"}`. That reply is then turned into OpenAI's `tool_calls`
 * or `content`.
 *
 * The schema is reduced to what node-llama-cpp's grammar builder supports, and
 * to the *required* properties only: its grammar emits every listed property,
 * so an optional one would always be invented; optional arguments take their
 * defaults.
 */
export type GrammarSchema = Record<string, unknown>;

export type ReplyMode =
  /** No grammar: the model writes free text (no tools, or tool_choice "none"). */
  | { kind: 'text' }
  | { kind: 'constrained'; schema: GrammarSchema; toolNames: string[]; allowAnswer: boolean };

const ANY_VALUE: GrammarSchema = { type: ['string', 'number', 'boolean', 'null'] };
const PRIMITIVES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const MAX_DEPTH = 6;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A tool's JSON schema → the subset the grammar builder takes (unknown shapes become "any scalar"). */
export function toGrammarSchema(schema: unknown, depth = 0): GrammarSchema {
  if (!isRecord(schema) || depth > MAX_DEPTH) return ANY_VALUE;
  const description: Record<string, string> =
    typeof schema.description === 'string' ? { description: schema.description } : {};
  if ('const' in schema && isScalar(schema.const)) return { const: schema.const, ...description };
  if (Array.isArray(schema.enum)) {
    const values = schema.enum.filter(isScalar);
    if (values.length > 0) return { enum: values, ...description };
  }
  const alternatives = Array.isArray(schema.oneOf)
    ? schema.oneOf
    : Array.isArray(schema.anyOf)
      ? schema.anyOf
      : undefined;
  if (alternatives && alternatives.length > 0) {
    return { oneOf: alternatives.map((a) => toGrammarSchema(a, depth + 1)), ...description };
  }
  const type = schema.type;
  if (Array.isArray(type)) {
    const scalars = type.filter((t): t is string => typeof t === 'string' && PRIMITIVES.has(t));
    return scalars.length === type.length && scalars.length > 0
      ? { type: scalars, ...description }
      : ANY_VALUE;
  }
  switch (type) {
    case 'string': {
      const limits: Record<string, number> = {};
      if (typeof schema.minLength === 'number') limits.minLength = schema.minLength;
      if (typeof schema.maxLength === 'number') limits.maxLength = schema.maxLength;
      return { type: 'string', ...limits, ...description };
    }
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return { type, ...description };
    case 'array': {
      const limits: Record<string, number> = {};
      if (typeof schema.minItems === 'number') limits.minItems = schema.minItems;
      if (typeof schema.maxItems === 'number') limits.maxItems = schema.maxItems;
      return { type: 'array', items: toGrammarSchema(schema.items, depth + 1), ...limits, ...description };
    }
    case 'object':
      return objectSchema(schema, depth, description);
    default:
      return isRecord(schema.properties) ? objectSchema(schema, depth, description) : ANY_VALUE;
  }
}

function objectSchema(
  schema: Record<string, unknown>,
  depth: number,
  description: Record<string, string>,
): GrammarSchema {
  const props = isRecord(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required)
    ? schema.required.filter((k): k is string => typeof k === 'string' && k in props)
    : [];
  if (Object.keys(props).length === 0 && schema.additionalProperties !== false) {
    return { type: 'object', additionalProperties: true, ...description };
  }
  const properties = Object.fromEntries(required.map((k) => [k, toGrammarSchema(props[k], depth + 1)]));
  return { type: 'object', properties, required, additionalProperties: false, ...description };
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

/** What the model may say, given the tools and tool_choice of a request. */
export function replyMode(tools: FunctionTool[] | undefined, choice: ToolChoice | undefined): ReplyMode {
  if (!tools || tools.length === 0 || choice === 'none') return { kind: 'text' };
  const offered = typeof choice === 'object' ? tools.filter((t) => t.name === choice.function.name) : tools;
  const allowAnswer = choice === undefined || choice === 'auto';
  const alternatives: GrammarSchema[] = offered.map((t) => ({
    type: 'object',
    properties: {
      tool: { const: t.name },
      arguments: toGrammarSchema(t.parameters ?? { type: 'object', properties: {} }),
    },
    required: ['tool', 'arguments'],
    additionalProperties: false,
  }));
  if (allowAnswer) {
    alternatives.push({
      type: 'object',
      properties: { answer: { type: 'string' } },
      required: ['answer'],
      additionalProperties: false,
    });
  }
  const schema = alternatives.length === 1 ? alternatives[0]! : { oneOf: alternatives };
  return { kind: 'constrained', schema, toolNames: offered.map((t) => t.name), allowAnswer };
}

/** The system-prompt paragraph that tells the model the reply format and the tools. */
export function toolInstructions(tools: FunctionTool[], mode: ReplyMode): string {
  if (mode.kind !== 'constrained') return '';
  const lines = ['You can call these tools:'];
  for (const t of tools.filter((x) => mode.toolNames.includes(x.name))) {
    lines.push(`- ${t.name}: ${t.description ?? ''}`.trimEnd());
    lines.push(`  arguments: ${JSON.stringify(toGrammarSchema(t.parameters ?? {}))}`);
  }
  lines.push(
    'To call a tool, reply with JSON only: {"tool": "<tool name>", "arguments": {...}}.',
    mode.allowAnswer
      ? 'To answer without a tool, reply with JSON only: {"answer": "<your answer>"}.'
      : 'You must call one of the tools.',
  );
  return lines.join('\n');
}

export interface ParsedReply {
  content: string | null;
  toolCalls: { name: string; arguments: Record<string, unknown> }[];
}

/**
 * The model's (grammar-constrained) text → content or one tool call. Returns
 * undefined when the text is not a complete reply (generation cut by max_tokens):
 * the caller passes the raw text on as content with finish_reason "length".
 */
export function parseReply(text: string, mode: ReplyMode): ParsedReply | undefined {
  if (mode.kind === 'text') return { content: text, toolCalls: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  if (typeof value.tool === 'string' && mode.toolNames.includes(value.tool)) {
    const args = isRecord(value.arguments) ? value.arguments : {};
    return { content: null, toolCalls: [{ name: value.tool, arguments: args }] };
  }
  if (mode.allowAnswer && typeof value.answer === 'string') return { content: value.answer, toolCalls: [] };
  return undefined;
}
