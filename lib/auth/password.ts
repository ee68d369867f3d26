import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { AppError } from "../errors";

/**
 * Passwords are hashed with scrypt (memory-hard, in node:crypto, no native addon), stored as
 * `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>` so the cost can be raised later and old hashes
 * still verify. N=2^15, r=8 needs 32 MiB per hash: costly for an attacker's GPU, ~50 ms here.
 */
const LOG_N = 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MIN_LENGTH = 10;
const MAX_LENGTH = 1024;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password.normalize("NFKC"), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

const maxmem = (logN: number, r: number) => 256 * 2 ** logN * r;

/** Rejects passwords too short to resist guessing (or absurdly long). The value is never echoed. */
export function checkPasswordPolicy(password: string): void {
  if (password.length < MIN_LENGTH) throw new AppError("BAD_USER_INPUT", `password must be at least ${MIN_LENGTH} characters`, { details: { field: "password" } });
  if (password.length > MAX_LENGTH) throw new AppError("BAD_USER_INPUT", `password must be at most ${MAX_LENGTH} characters`, { details: { field: "password" } });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEYLEN, { N: 2 ** LOG_N, r: R, p: P, maxmem: maxmem(LOG_N, R) });
  return `scrypt$${LOG_N}$${R}$${P}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** Constant-time check of `password` against a stored hash; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [logN, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![logN, r, p].every((n) => Number.isInteger(n) && n > 0) || logN > 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  if (expected.length < 16 || password.length > MAX_LENGTH) return false;
  const actual = await scrypt(password, salt, expected.length, { N: 2 ** logN, r, p, maxmem: maxmem(logN, r) });
  return timingSafeEqual(actual, expected);
}

/**
 * A hash of a random password, verified against when the user does not exist, so that a login
 * for an unknown name costs the same time as one with a wrong password.
 */
let dummy: Promise<string> | null = null;
export function dummyHash(): Promise<string> {
  return (dummy ??= hashPassword(randomBytes(16).toString("hex")));
}
