import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { AppError } from "../errors";

/**
 * Sealed box format, version 1: `0x01 | iv (12) | tag (16) | ciphertext`. AES-256-GCM with a fresh
 * random IV per seal; the associated data binds a box to what it belongs to (e.g. one registry's
 * id), so a box copied onto another row fails to open instead of lending that row its secrets.
 */
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Encrypts `plaintext` under `key` (32 bytes), bound to `aad`. */
export function seal(key: Buffer, plaintext: Buffer | string, aad: string): Buffer {
  if (key.length !== 32) throw new AppError("INTERNAL", "secret key must be 32 bytes");
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

/**
 * Decrypts a box made by `seal`. A wrong key, a tampered box or a box bound to something else is
 * SECRET_UNREADABLE (never the plaintext, never the key in the message).
 */
export function open(key: Buffer, box: Uint8Array, aad: string): Buffer {
  const buf = Buffer.from(box);
  if (buf.length < 1 + IV_BYTES + TAG_BYTES || buf[0] !== VERSION) {
    throw new AppError("SECRET_UNREADABLE", "stored secret has an unknown format");
  }
  const iv = buf.subarray(1, 1 + IV_BYTES);
  const tag = buf.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const body = buf.subarray(1 + IV_BYTES + TAG_BYTES);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new AppError("SECRET_UNREADABLE", "stored secret cannot be decrypted: FERRY_SECRET_KEY differs from the key it was written with, or the data was altered");
  }
}

/** Seals a JSON value. */
export function sealJson(key: Buffer, value: unknown, aad: string): Buffer {
  return seal(key, JSON.stringify(value), aad);
}

/** Opens a box made by `sealJson`. */
export function openJson<T>(key: Buffer, box: Uint8Array, aad: string): T {
  return JSON.parse(open(key, box, aad).toString("utf8")) as T;
}
