/** The agent service's workflows (bundled by the worker; workflow code only). */
export { agentRun, reviewSignal, stateQuery, stopSignal } from './agent-run.workflow';
