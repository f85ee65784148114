/**
 * InTime as a library: runs, pipeline stages with output contracts, and the gateway
 * (embedded or remote) that meters and judges every call.
 */
export { InTime, type RunOptions } from './library/intime.js';
export { Run } from './library/run.js';
export { Stage, type AttemptContext, type StageDefinition, type StageResult, type ViolationPolicy } from './library/stage.js';
export { defineContract, type Check, type Contract, type ContractDefinition, type JsonSchema, type Verification, type Violation } from './library/contract.js';
export { ContractViolationError, type AttemptRecord } from './library/errors.js';
export type { ModelChoice, ModelTarget } from './library/model-call.js';
export { formatUsd, parseUsd, type Money } from './core/money.js';
export { startGateway, type GatewayOptions, type RunningGateway } from './gateway/gateway.js';
export { startSim, type SimServer } from './sim/index.js';
export * from './forecast/index.js';
