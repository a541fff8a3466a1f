import type { LocalCredentials } from './credentials';
import type { LocalConfig } from './local-config';
import type { ProcessSupervisor } from './process-supervisor';

export interface PlatformContext {
  config: LocalConfig;
  creds: LocalCredentials;
  supervisor: ProcessSupervisor;
}

/** One piece of the local platform: something to install and (usually) a process to run. */
export interface Component {
  readonly name: string;
  readonly title: string;
  install(ctx: PlatformContext): Promise<void>;
  /** Starts it if it is not running; waits until it is ready. Idempotent. */
  start(ctx: PlatformContext): Promise<void>;
  stop(ctx: PlatformContext): Promise<void>;
  ready(ctx: PlatformContext): Promise<boolean>;
  /** Where people and services reach it. */
  endpoint(ctx: PlatformContext): string;
  /** The TCP ports it binds, checked for conflicts before start. */
  ports(ctx: PlatformContext): number[];
}
