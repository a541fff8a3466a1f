// Everything exported here is a workflow the worker registers.
export { durableTimerProbe } from './durable-timer-probe.workflow';
