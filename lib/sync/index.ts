/**
 * lib/sync — Ferry's sync engine: the seed's Service (one per registry config), the
 * TaskGenerator, content rules and name mapping, per-tag state. This file is the public surface.
 */
export type {
  ReferrerInfo,
  SyncContext,
  SyncImageResult,
  SyncProgress,
  SyncRepoResult,
  SyncService,
  TagOutcome,
} from "./service-types";
export { createSyncService, describeError, type SyncServiceDeps, type SyncServiceExtras } from "./service";
export {
  parseContentRules,
  parseRegistryConfig,
  registryConfigSchema,
  type ConfigIssue,
  type ContentRule,
  type RegistryConfig,
  type RegistryConfigInput,
  type TagFilters,
} from "./config";
export {
  ContentRules,
  filterTags,
  formatPlatform,
  literalPrefix,
  parsePlatform,
  planPromotion,
  platformMatches,
  selectLatest,
  tagVersion,
  type PlatformSpec,
  type TagDecision,
} from "./content-rules";
export {
  INITIAL_GENERATOR_STATE,
  TaskGenerator,
  type SyncRepoTask,
  type TaskGeneratorOptions,
  type TaskGeneratorState,
} from "./task-generator";
export { SortedCatalog } from "./catalog";
export { isFailoverError, Remote } from "./remote";
export { DOCKER_TO_OCI_MEDIA_TYPES, ociMediaType } from "./convert-oci";
export type { OCIDigest } from "./predict-digest";
export { SIGNATURE_ARTIFACT_TYPES } from "./referrers";
export { MemoryTagState, type TagStateRecord, type TagStateStore, type TagStateUpdate, type TagSyncStatus } from "./tag-state";
export { PrismaTagState } from "./tag-state-prisma";
export { formatDuration, parseDuration } from "./duration";
