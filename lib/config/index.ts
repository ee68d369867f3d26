export { loadConfig, type LoadConfigOptions, type ResolvedConfig } from "./load";
export { configSchema, ENV_KEYS, LOG_LEVELS, type FerryConfig, type FerryConfigInput } from "./schema";
