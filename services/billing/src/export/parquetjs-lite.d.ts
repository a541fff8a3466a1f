// Minimal typings for the part of parquetjs-lite billing uses (the package ships none).
declare module 'parquetjs-lite' {
  import type { Writable } from 'node:stream';

  export interface FieldDefinition {
    type: string;
    optional?: boolean;
    repeated?: boolean;
    compression?: string;
  }

  export class ParquetSchema {
    constructor(fields: Record<string, FieldDefinition>);
  }

  export class ParquetWriter {
    static openStream(
      schema: ParquetSchema,
      stream: Writable,
      opts?: Record<string, unknown>,
    ): Promise<ParquetWriter>;
    appendRow(row: Record<string, unknown>): Promise<void>;
    close(): Promise<void>;
  }
}
