/**
 * lib/oci: Ferry's client for upstream registries (OCI distribution API on undici). This file
 * is the public surface; everything else in the folder is internal.
 */
export { RegistryClient } from "./client";
export type { CallOptions, FetchedManifest, ManifestInfo, PingResult, ReferrersOptions, ReferrersResult } from "./client";
export { isRegistryRootUrl } from "./options";
export type { RegistryClientOptions, RetryInfo } from "./options";
export type { BlobStream } from "./blob-stream";
export type { RateLimitInfo } from "./rate-limit";
export type { Descriptor, ImageIndex, ImageManifest, ParsedManifest } from "./manifest";
export { OciError, isOciError, appCodeOf, OCI_ERROR_CODES } from "./errors";
export type { OciErrorCode } from "./errors";
export {
  DOCKER_HUB_REGISTRY,
  formatReference,
  isDigest,
  normaliseRegistryHost,
  parseDigest,
  parseReference,
  validateDigest,
  validateRepository,
  validateTag,
} from "./reference";
export type { ImageReference } from "./reference";
export { MediaTypes, MANIFEST_MEDIA_TYPES, isIndexMediaType } from "./media-types";
export { cosignTag, cosignTags, parseAttachedTag, referrersTag } from "./cosign";
export type { CosignKind } from "./cosign";
export type { CredentialHelper, Credentials, CredentialsFile } from "./credentials";
export { credentialsFromDockerConfig, defaultDockerConfigPath, readDockerConfig } from "./docker-config";
export type { DockerConfigFile } from "./docker-config";
export { computeDigest } from "./digest";
