import { contentText, type ChatMessage, type FunctionTool } from './chat-request';
import { toolInstructions, type ReplyMode } from './tool-protocol';

/**
 * Messages → the prompt in the model's chat template. The embedded model
 * (SmolLM2) uses ChatML, and so do most small instruct GGUFs; the server checks
 * the GGUF's template at load (`isChatMlTemplate`) and refuses a model whose
 * template is something else.
 *
 * Tools are described in the system message; an assistant's earlier tool calls
 * are rendered in the very format the grammar makes the model write, and tool
 * results are `tool` turns naming the tool they answer.
 */
export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';
/** What SmolLM2's template inserts when a conversation has no system message. */
export const DEFAULT_SYSTEM = 'You are a helpful AI assistant named SmolLM, trained by Hugging Face';

export function isChatMlTemplate(template: string | undefined): boolean {
  return typeof template === 'string' && template.includes(IM_START) && template.includes(IM_END);
}

const turn = (role: string, text: string) => `${IM_START}${role}\n${text}${IM_END}\n`;

/** Removes the template's control tokens from user-supplied text, so a message cannot open a turn of its own. */
export function neutralize(text: string): string {
  return text.replaceAll(IM_START, '<im_start>').replaceAll(IM_END, '<im_end>');
}

export function renderChatMl(messages: ChatMessage[], tools: FunctionTool[], mode: ReplyMode): string {
  const systemParts: string[] = [];
  const rest: ChatMessage[] = [];
  // Leading system/developer messages form the system turn; later ones stay in place.
  let leading = true;
  for (const m of messages) {
    if (leading && (m.role === 'system' || m.role === 'developer')) systemParts.push(contentText(m.content));
    else {
      leading = false;
      rest.push(m);
    }
  }
  const instructions = toolInstructions(tools, mode);
  const system = [systemParts.length > 0 ? systemParts.join('\n\n') : DEFAULT_SYSTEM, instructions]
    .filter((s) => s.length > 0)
    .join('\n\n');
  const toolNames = new Map<string, string>();
  let out = turn('system', neutralize(system));
  for (const m of rest) {
    switch (m.role) {
      case 'system':
      case 'developer':
        out += turn('system', neutralize(contentText(m.content)));
        break;
      case 'user':
        out += turn('user', neutralize(contentText(m.content)));
        break;
      case 'assistant': {
        const parts: string[] = [];
        const text = contentText(m.content);
        if (text)
          parts.push(
            mode.kind === 'constrained' && !m.tool_calls?.length ? JSON.stringify({ answer: text }) : text,
          );
        for (const call of m.tool_calls ?? []) {
          if (call.id) toolNames.set(call.id, call.function.name);
          parts.push(
            JSON.stringify({ tool: call.function.name, arguments: argumentsObject(call.function.arguments) }),
          );
        }
        out += turn('assistant', neutralize(parts.join('\n')));
        break;
      }
      case 'tool': {
        const name = m.name ?? (m.tool_call_id ? toolNames.get(m.tool_call_id) : undefined);
        const text = contentText(m.content);
        out += turn('tool', neutralize(name ? `${name} returned:\n${text}` : text));
        break;
      }
    }
  }
  return `${out}${IM_START}assistant\n`;
}

function argumentsObject(args: string | Record<string, unknown> | undefined): unknown {
  if (args === undefined || args === '') return {};
  if (typeof args !== 'string') return args;
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}
