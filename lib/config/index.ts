export { loadConfig, readRawConfig, type LoadConfigOptions, type ResolvedConfig } from "./load";
export { configSchema, ENV_KEYS, LOG_LEVELS, type FerryConfig, type FerryConfigInput } from "./schema";
export { importZotConfig, looksLikeZotConfig, type ImportNote, type ZotImport } from "./zot-import";
export { ALERT_EVENTS, alertsSchema, exportAlerts, type AlertEventType, type AlertsConfig, type WebhookConfig } from "./alerts";
