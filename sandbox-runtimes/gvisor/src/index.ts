export * from './oci-spec';
export * from './bundle';
export * from './runsc';
export * from './run-to-completion';
