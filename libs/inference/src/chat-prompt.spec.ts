import { CHAT_STOP, chatPrompt } from './chat-prompt';

describe('chatPrompt', () => {
  it('writes one role: content line per message and leaves the assistant to continue', () => {
    const prompt = chatPrompt([
      { role: 'system', content: 'Answer briefly.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is ' },
          { type: 'text', text: 'a dog?' },
        ],
      },
      { role: 'assistant', content: null },
      { role: 'user', content: 'And a cat?' },
    ]);
    expect(prompt).toBe('system: Answer briefly.\nuser: What is a dog?\nassistant: \nuser: And a cat?\nassistant:');
    expect(CHAT_STOP.some((stop) => `${prompt} A pet.\nuser: more`.includes(stop))).toBe(true);
  });

  it('refuses messages it cannot write as text', () => {
    expect(() => chatPrompt([])).toThrow(expect.objectContaining({ code: 'invalid_input' }));
    expect(() => chatPrompt([{ role: '', content: 'x' }])).toThrow(/messages\[0\]\.role/);
    expect(() => chatPrompt([{ role: 'user', content: [{ type: 'image_url' }] }])).toThrow(/messages\[0\]\.content\[0\] is not a text part/);
  });
});
