/**
 * Server-sent events from a fetch body: yields each event's joined `data:`
 * lines. Tolerates CRLF, comments (": keep-alive") and a last event without a
 * trailing blank line.
 */
export async function* readSseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        if (line === '') {
          if (data.length > 0) yield data.join('\n');
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(5).replace(/^ /, ''));
        }
        // "event:", "id:", "retry:" and ":" comments carry nothing we need.
      }
    }
    buffer += decoder.decode();
    const tail = buffer.replace(/\r$/, '');
    if (tail.startsWith('data:')) data.push(tail.slice(5).replace(/^ /, ''));
    if (data.length > 0) yield data.join('\n');
  } finally {
    // Stops the download when the consumer leaves early (error, [DONE], abort).
    await reader.cancel().catch(() => undefined);
  }
}
