/**
 * lib/api — what the REST and GraphQL adapters share: the process's API environment, `perform`
 * (authorize + audit), the operations over registries, tasks and repositories, and the REST
 * router with its OpenAPI document. Framework-free: fetch `Request` in, `Response` out.
 */
export { getApiEnv, type ApiEnv } from "./env";
export { auditOutcomeOf, perform, type CallContext } from "./perform";
export * from "./registries";
export * from "./tasks";
export * from "./repositories";
export * from "./dashboard";
export * from "./preview";
export * from "./promote";
export * from "./tags";
export * from "./url-health";
export * from "./alerts";
export * as schemas from "./schemas";
export { API_PREFIX, handleRest } from "./rest/router";
export { buildOpenApi } from "./rest/openapi";
export { ROUTES } from "./rest/routes";
export { problemResponse } from "./rest/problem";
