/**
 * lib/store — Ferry's content-addressed image store. One OCI image layout per repository,
 * verified atomic writes, hard-link dedupe through a shared pool, cross-process locking,
 * crash recovery, gc and verify. Imports no database code.
 */
export { FsStore, openStore, type OpenStoreOptions } from "./fs-store";
export { verifyStoreAt } from "./verify-cli-core";
export { DEFAULT_GC_GRACE_MS } from "./gc";
export { MEDIA_TYPES } from "./manifest";
export { REF_NAME } from "./oci-index";
export { importOciLayout, type ImportLayoutOptions, type ImportLayoutResult } from "./import-layout";
export { isValidRepoName, isValidTag, isDigest, MAX_REPO_NAME_LENGTH } from "./names";
export type {
  Body,
  BlobWriteResult,
  ByteRange,
  CommitResult,
  Descriptor,
  GcOptions,
  GcReport,
  Page,
  RecoveryReport,
  Staging,
  Store,
  StoredManifest,
  VerifyProblem,
  VerifyReport,
} from "./types";
