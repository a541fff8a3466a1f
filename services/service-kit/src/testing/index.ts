/**
 * Helpers for integration tests and benchmarks that run against the real
 * local platform: its QUIRE_* variables, free ports, and Quire services started
 * as their own processes, and the web editor's production build.
 */
export * from './test-env';
export * from './service-process';
export * from './web-build';
