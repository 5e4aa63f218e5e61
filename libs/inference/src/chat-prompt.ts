import { InferenceError } from './inference-error';

/** An OpenAI chat message; content as a string or as text parts. */
export interface ChatMessage {
  role: string;
  content: string | null | readonly { type: string; text?: string }[];
}

/** Where a base model that continues the conversation would begin the next turn; pass as `stop`. */
export const CHAT_STOP = ['\nuser:', '\nsystem:'] as const;

/**
 * One prompt for a base model (no chat template of its own): a `role: content` line per message,
 * then `assistant:`, which the model continues. Greedy decoding of a base model runs on into
 * further turns; stop it with `CHAT_STOP`.
 *
 *     system: Answer briefly.
 *     user: What is a dog?
 *     assistant:
 */
export function chatPrompt(messages: readonly ChatMessage[]): string {
  if (!Array.isArray(messages) || messages.length === 0) throw new InferenceError('invalid_input', 'messages must be a non-empty array');
  const lines = messages.map((message, i) => {
    if (typeof message?.role !== 'string' || message.role === '') {
      throw new InferenceError('invalid_input', `messages[${i}].role must be a non-empty string`);
    }
    return `${message.role}: ${contentText(message.content, i)}\n`;
  });
  return `${lines.join('')}assistant:`;
}

function contentText(content: ChatMessage['content'], i: number): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        if (part?.type !== 'text' || typeof part.text !== 'string') {
          throw new InferenceError('invalid_input', `messages[${i}].content[${j}] is not a text part; this model reads text only`);
        }
        return part.text;
      })
      .join('');
  }
  throw new InferenceError('invalid_input', `messages[${i}].content must be a string or an array of text parts`);
}
