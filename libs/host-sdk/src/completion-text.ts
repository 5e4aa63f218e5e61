/**
 * The completion text of an OpenAI-compatible answer as the endpoint sent it (what provers and the CLI score): a JSON completion or
 * chat completion, or a server-sent event stream of chunks. Null when it holds none.
 */
export function completionText(body: string): string | null {
  const pick = (o: unknown): string | null => {
    const c = (o as { choices?: { text?: unknown; message?: { content?: unknown }; delta?: { content?: unknown } }[] })?.choices?.[0];
    for (const v of [c?.text, c?.message?.content, c?.delta?.content]) if (typeof v === 'string') return v;
    return null;
  };
  const trimmed = body.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      return pick(JSON.parse(trimmed));
    } catch {
      return null;
    }
  }
  let text: string | null = null;
  for (const event of body.split(/\r?\n\r?\n/)) {
    const lines = event.split(/\r?\n/);
    if (lines.some((l) => l.startsWith('event:') && l.slice(6).trim() !== 'message')) continue;
    const data = lines
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim())
      .join('\n');
    if (!data || data === '[DONE]') continue;
    try {
      const piece = pick(JSON.parse(data));
      if (piece !== null) text = (text ?? '') + piece;
    } catch {
      // Not a chunk: skipped.
    }
  }
  return text;
}
