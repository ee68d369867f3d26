export { applyRegistryConfig, SOURCE_KEY } from "./apply-config";
export { OnDemand, type OnDemandOptions } from "./on-demand";
export { ServiceCache, type MirrorService, type RegistryEntry } from "./services";
export { defaultWorkers, parseConfiguredRegistries, startMirror, type Mirror, type StartMirrorOptions } from "./start";
export { createTaskHandler } from "./task-handler";
export { instrumentMirror, type MirrorMetricsOptions } from "./metrics";
export { installConfigReload } from "./reload";
