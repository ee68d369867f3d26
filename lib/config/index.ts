export { loadConfig, type LoadConfigOptions, type ResolvedConfig } from "./load";
export { configSchema, ENV_KEYS, LOG_LEVELS, type FerryConfig, type FerryConfigInput } from "./schema";
export { importZotConfig, looksLikeZotConfig, type ImportNote, type ZotImport } from "./zot-import";
export { ALERT_EVENTS, alertsSchema, type AlertEventType, type AlertsConfig, type WebhookConfig } from "./alerts";
