// Everything exported here is a workflow the worker registers.
export { durableTimerProbe } from './durable-timer-probe.workflow';
export { kernelLifecycle } from './kernel-lifecycle.workflow';
export { warmPoolAutoscaler } from './warm-pool-autoscaler.workflow';
