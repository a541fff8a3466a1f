export * from './gpu-discovery';
export * from './gpu-type';
export * from './nvidia-smi-discovery';
export * from './nvidia-smi-xml';
export * from './nvproxy-support';
export * from './gpu-inventory';
export * from './gpu-sandbox-plan';
export * from './driver-libraries';
