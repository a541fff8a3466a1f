import { GenerationAbortedError, QueueFullError } from './inference-engine';
import { RequestQueue } from './request-queue';

describe('RequestQueue', () => {
  it('runs jobs one at a time, in order', async () => {
    const q = new RequestQueue(10);
    const log: string[] = [];
    const job = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      return name;
    };
    const signal = new AbortController().signal;
    const results = await Promise.all([
      q.run(signal, job('a', 30)),
      q.run(signal, job('b', 1)),
      q.run(signal, job('c', 1)),
    ]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('a job aborted while it waits never runs; a failed job does not block the next', async () => {
    const q = new RequestQueue(10);
    const ac = new AbortController();
    let ran = false;
    const first = q.run(new AbortController().signal, async () => {
      await new Promise((r) => setTimeout(r, 20));
      throw new Error('boom');
    });
    const second = q.run(ac.signal, async () => {
      ran = true;
    });
    const third = q.run(new AbortController().signal, async () => 'ok');
    ac.abort();
    await expect(first).rejects.toThrow('boom');
    await expect(second).rejects.toBeInstanceOf(GenerationAbortedError);
    await expect(third).resolves.toBe('ok');
    expect(ran).toBe(false);
  });

  it('refuses beyond its limit', async () => {
    const q = new RequestQueue(1);
    const s = new AbortController().signal;
    const a = q.run(s, () => new Promise((r) => setTimeout(r, 10)));
    await expect(q.run(s, async () => 1)).rejects.toBeInstanceOf(QueueFullError);
    await a;
  });
});
