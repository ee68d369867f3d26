/** Errors shared by the ways bytes enter the store (atomic-write.ts, file-import.ts). */
import { AppError } from "../errors";
import { isCode } from "./layout";

export function assertSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new AppError("BAD_USER_INPUT", "invalid blob size", { details: { size } });
  }
}

export function mismatch(digest: string, size: number, got: string): AppError {
  return new AppError("DIGEST_MISMATCH", "content does not match its digest and size", {
    details: { digest, size, got },
  });
}

/** Disk-full becomes STORE_FULL so the API can answer 507; everything else passes through. */
export function storeError(err: unknown): unknown {
  if (isCode(err, "ENOSPC") || isCode(err, "EDQUOT")) {
    return new AppError("STORE_FULL", "the store's disk is full", { cause: err });
  }
  return err;
}
