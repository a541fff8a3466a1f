import { GenerationAbortedError, QueueFullError } from './inference-engine';

/**
 * One model instance serves one request at a time: jobs run in arrival order;
 * a job whose signal aborts while it waits leaves the queue without running.
 */
export class RequestQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly limit: number) {}

  get depth(): number {
    return this.waiting;
  }

  run<T>(signal: AbortSignal, job: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.limit) {
      return Promise.reject(new QueueFullError(`${this.waiting} requests are already waiting for the model`));
    }
    this.waiting++;
    const turn = this.tail.then(async () => {
      this.waiting--;
      if (signal.aborted) throw new GenerationAbortedError();
      return job();
    });
    this.tail = turn.catch(() => undefined);
    return turn;
  }
}
