import { parseReply, replyMode, toGrammarSchema, toolInstructions } from './tool-protocol';
import type { FunctionTool } from './chat-request';

const tools: FunctionTool[] = [
  {
    name: 'insert_cell',
    description: 'Insert a cell',
    parameters: {
      type: 'object',
      properties: {
        source: { type: 'string', description: 'code' },
        run: { type: 'boolean' },
      },
      required: ['source'],
      additionalProperties: false,
    },
  },
  { name: 'read_notebook', parameters: { type: 'object', properties: {}, additionalProperties: false } },
];

describe('toGrammarSchema', () => {
  it('keeps only required properties (the grammar would invent every optional one)', () => {
    expect(toGrammarSchema(tools[0]!.parameters)).toEqual({
      type: 'object',
      properties: { source: { type: 'string', description: 'code' } },
      required: ['source'],
      additionalProperties: false,
    });
  });

  it('maps arrays, enums, consts, unions and unknown shapes', () => {
    expect(
      toGrammarSchema({
        type: 'object',
        properties: {
          names: { type: 'array', items: { type: 'string' }, maxItems: 3 },
          kind: { enum: ['a', 'b', { no: 1 }] },
          fixed: { const: 7 },
          either: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
          mystery: { $ref: '#/definitions/x' },
          pair: { type: ['string', 'object'] },
        },
        required: ['names', 'kind', 'fixed', 'either', 'mystery', 'pair', 'absent'],
      }),
    ).toEqual({
      type: 'object',
      properties: {
        names: { type: 'array', items: { type: 'string' }, maxItems: 3 },
        kind: { enum: ['a', 'b'] },
        fixed: { const: 7 },
        either: { oneOf: [{ type: 'integer' }, { type: 'null' }] },
        mystery: { type: ['string', 'number', 'boolean', 'null'] },
        pair: { type: ['string', 'number', 'boolean', 'null'] },
      },
      required: ['names', 'kind', 'fixed', 'either', 'mystery', 'pair'],
      additionalProperties: false,
    });
  });

  it('a free-form object (no properties) takes any JSON object', () => {
    expect(toGrammarSchema({ type: 'object' })).toEqual({ type: 'object', additionalProperties: true });
    expect(toGrammarSchema(undefined)).toEqual({ type: ['string', 'number', 'boolean', 'null'] });
  });
});

describe('replyMode', () => {
  it('free text without tools or with tool_choice "none"', () => {
    expect(replyMode(undefined, undefined)).toEqual({ kind: 'text' });
    expect(replyMode(tools, 'none')).toEqual({ kind: 'text' });
  });

  it('auto: one alternative per tool plus an answer', () => {
    const mode = replyMode(tools, 'auto');
    expect(mode).toMatchObject({
      kind: 'constrained',
      toolNames: ['insert_cell', 'read_notebook'],
      allowAnswer: true,
    });
    const schema = (mode as unknown as { schema: { oneOf: { properties: Record<string, unknown> }[] } })
      .schema;
    expect(schema.oneOf).toHaveLength(3);
    expect(schema.oneOf[0]!.properties.tool).toEqual({ const: 'insert_cell' });
    expect(schema.oneOf[2]!.properties).toEqual({ answer: { type: 'string' } });
  });

  it('required: tools only; a named function: that tool only', () => {
    expect(replyMode(tools, 'required')).toMatchObject({
      allowAnswer: false,
      toolNames: ['insert_cell', 'read_notebook'],
    });
    const named = replyMode(tools, { type: 'function', function: { name: 'read_notebook' } });
    expect(named).toMatchObject({ allowAnswer: false, toolNames: ['read_notebook'] });
    expect((named as { schema: object }).schema).toMatchObject({
      properties: { tool: { const: 'read_notebook' } },
    });
  });

  it('the instructions name each offered tool and the reply format', () => {
    const text = toolInstructions(tools, replyMode(tools, 'auto'));
    expect(text).toContain('- insert_cell: Insert a cell');
    expect(text).toContain('{"tool": "<tool name>", "arguments": {...}}');
    expect(text).toContain('{"answer":');
    expect(toolInstructions(tools, replyMode(tools, 'required'))).toContain(
      'You must call one of the tools.',
    );
  });
});

describe('parseReply', () => {
  const auto = replyMode(tools, 'auto');

  it('a tool call, with its arguments as an object', () => {
    expect(parseReply('{\n  "tool": "insert_cell", "arguments": {"source": "print(1)"}\n}', auto)).toEqual({
      content: null,
      toolCalls: [{ name: 'insert_cell', arguments: { source: 'print(1)' } }],
    });
  });

  it('an answer becomes content', () => {
    expect(parseReply('{"answer": "done"}', auto)).toEqual({ content: 'done', toolCalls: [] });
  });

  it('cut-off JSON, an unknown tool, or an answer where a tool is required: not a reply', () => {
    expect(parseReply('{"tool": "insert_cell", "argu', auto)).toBeUndefined();
    expect(parseReply('{"tool": "rm_rf", "arguments": {}}', auto)).toBeUndefined();
    expect(parseReply('{"answer": "x"}', replyMode(tools, 'required'))).toBeUndefined();
    expect(parseReply('[1]', auto)).toBeUndefined();
  });

  it('free text passes through', () => {
    expect(parseReply('hello', { kind: 'text' })).toEqual({ content: 'hello', toolCalls: [] });
  });
});
