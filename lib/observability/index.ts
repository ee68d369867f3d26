export { createLogger, REDACT_PATHS, resolveLogFormat, scrubUrls, type CreateLoggerOptions, type LogFormat, type Logger } from "./logger";
export { currentLogContext, requestIdFrom, withLogContext, type LogContext } from "./log-context";
export { createMetrics, metricsHandler, observeV2Response, statusClass, type Collector, type CreateMetricsOptions, type FerryMetrics } from "./metrics";
export { observeUpstreamRequests, rateLimitRemaining } from "./upstream-requests";
