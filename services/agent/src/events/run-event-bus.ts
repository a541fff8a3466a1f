import { EventEmitter } from 'node:events';

/**
 * In-process news of runs for the SSE streams of this instance: streamed LLM
 * tokens (when the run's activity runs here) and "the run's row changed".
 * Streams also poll the database, so a run worked on by another instance is
 * still seen; tokens are best effort.
 */
export class RunEventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  token(runId: string, step: number, text: string): void {
    this.emitter.emit(`token:${runId}`, step, text);
  }

  changed(runId: string): void {
    this.emitter.emit(`changed:${runId}`);
  }

  onToken(runId: string, fn: (step: number, text: string) => void): () => void {
    this.emitter.on(`token:${runId}`, fn);
    return () => this.emitter.off(`token:${runId}`, fn);
  }

  onChanged(runId: string, fn: () => void): () => void {
    this.emitter.on(`changed:${runId}`, fn);
    return () => this.emitter.off(`changed:${runId}`, fn);
  }
}
