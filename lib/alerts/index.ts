/**
 * Alerts (issue 10): webhooks told when a registry starts failing, recovers, or goes stale —
 * signed with HMAC-SHA256, retried with backoff, every attempt recorded in Postgres.
 */
export { AlertService, type AlertServiceOptions } from "./service";
export { listDeliveries, type DeliveryQuery, type DeliveryView } from "./deliveries";
export { decide, evaluate, isFailing, type AlertPayload, type Condition, type ConditionState, type Transition, type WatchedRegistry } from "./evaluate";
export { readHealth, type FailureReason, type RegistryHealth } from "./health";
export { signPayload, verifySignature, SIGNATURE_PREFIX, type VerifyOptions } from "./signature";
export { MAX_RETRY_DELAY_MS, Webhook, webhooksFrom } from "./webhooks";
