import type { LoggerService } from '@nestjs/common';
import { trace } from '@opentelemetry/api';

/**
 * Structured JSON logs, one object per line: time, level, service, message,
 * context, the active trace id, and any fields. Also NestJS's logger.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class JsonLogger implements LoggerService {
  constructor(
    private readonly service: string,
    private readonly minLevel: Level = 'info',
    private readonly out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  ) {}

  write(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < ORDER[this.minLevel]) return;
    const span = trace.getActiveSpan()?.spanContext();
    this.out(
      JSON.stringify({
        time: new Date().toISOString(),
        level,
        service: this.service,
        msg,
        ...(span ? { traceId: span.traceId, spanId: span.spanId } : {}),
        ...fields,
      }),
    );
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }

  // NestJS LoggerService: (message, ...optionalParams) where the last param is the context.
  log(message: unknown, ...params: unknown[]): void {
    this.write('info', String(message), nestContext(params));
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('debug', String(message), nestContext(params));
  }
}

function nestContext(params: unknown[]): Record<string, unknown> {
  const ctx = params.at(-1);
  return typeof ctx === 'string' ? { context: ctx } : {};
}
