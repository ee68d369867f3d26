export { closeProcessEvents, EventListener, processEvents, type FerryEvent } from "./events";
export { GenerationCache } from "./generation-cache";
export {
  addEvent,
  cancel,
  claim,
  complete,
  dedupeKeyOf,
  enqueue,
  EVENTS_CHANNEL,
  fail,
  getTask,
  pruneHistory,
  reapExpired,
  release,
  renew,
  retry,
  type EnqueueInput,
  type Failure,
  type Progress,
} from "./queue";
export { sqlFromPrisma, type Sql } from "./sql";
export { FINAL_STATUSES, LIVE_STATUSES, PRIORITY, type TaskKind, type TaskRecord, type TaskResult, type TaskStatus } from "./task-types";
export { WorkerPool, type RetryPolicy, type TaskEnd, type TaskHandler, type WorkerPoolOptions } from "./worker-pool";
export {
  attachSnapshotCache,
  generatorSnapshot,
  SnapshotCache,
  snapshotCacheOf,
  pauseRegistry,
  resetGenerator,
  resumeRegistry,
  triggerRound,
  type GeneratorStatus,
} from "./control";
export type { GeneratorPhase } from "./generator-state";
export { GENERATOR_TRIGGER_PREFIX, GeneratorCoordinator, generatorTrigger, type GeneratorCoordinatorOptions, type PeriodicRegistry } from "./generators";
