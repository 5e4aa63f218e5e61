import { completionText } from '@clopen/host-sdk';

describe('completionText', () => {
  it('reads a completion, a chat completion and a server-sent event stream', () => {
    expect(completionText('{"choices":[{"text":" the answer"}]}')).toBe(' the answer');
    expect(completionText('{"choices":[{"message":{"role":"assistant","content":"hi"}}]}')).toBe('hi');
    const stream = [
      'data: {"choices":[{"delta":{"content":"a"}}]}',
      'data: {"choices":[{"delta":{"content":" b"}}]}',
      'event: clopen.receipt\ndata: {"receipt":"x"}',
      'data: [DONE]',
      '',
    ].join('\n\n');
    expect(completionText(stream)).toBe('a b');
  });

  it('is null for an answer without a completion', () => {
    expect(completionText('{"error":{"code":"missing_permission"}}')).toBeNull();
    expect(completionText('<html>forbidden</html>')).toBeNull();
  });
});
