import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signPayload, verifySignature } from "../../../lib/alerts";

const SECRET = "0123456789abcdef-secret";
const BODY = '{"id":"e1","type":"failure","registry":"hub"}';

describe("webhook signatures", () => {
  it("is HMAC-SHA256 over '<timestamp>.<body>', hex, prefixed sha256=", () => {
    const expected = createHmac("sha256", SECRET).update(`1700000000.${BODY}`).digest("hex");
    expect(signPayload(SECRET, 1700000000, BODY)).toBe(`sha256=${expected}`);
    // A known vector, so a change of scheme cannot pass unnoticed.
    expect(signPayload("key", 1, "{}")).toBe(`sha256=${createHmac("sha256", "key").update("1.{}").digest("hex")}`);
    expect(signPayload("key", 1, "{}")).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it("verifies what it signs and nothing else", () => {
    const now = 1700000000;
    const sig = signPayload(SECRET, now, BODY);
    expect(verifySignature(SECRET, sig, String(now), BODY, { now })).toBe(true);
    expect(verifySignature(SECRET, sig, now, BODY, { now: now + 299 })).toBe(true);
    // Another secret, body, timestamp or a truncated signature: rejected.
    expect(verifySignature(`${SECRET}x`, sig, now, BODY, { now })).toBe(false);
    expect(verifySignature(SECRET, sig, now, `${BODY} `, { now })).toBe(false);
    expect(verifySignature(SECRET, sig, now + 1, BODY, { now })).toBe(false);
    expect(verifySignature(SECRET, sig.slice(0, -1), now, BODY, { now })).toBe(false);
    expect(verifySignature(SECRET, sig.replace("sha256=", "sha1="), now, BODY, { now })).toBe(false);
    expect(verifySignature(SECRET, null, now, BODY, { now })).toBe(false);
    expect(verifySignature(SECRET, sig, "not-a-number", BODY, { now })).toBe(false);
  });

  it("rejects a replay older (or newer) than the tolerance", () => {
    const then = 1700000000;
    const sig = signPayload(SECRET, then, BODY);
    expect(verifySignature(SECRET, sig, then, BODY, { now: then + 301 })).toBe(false);
    expect(verifySignature(SECRET, sig, then, BODY, { now: then - 301 })).toBe(false);
    expect(verifySignature(SECRET, sig, then, BODY, { now: then + 3600, toleranceSeconds: 7200 })).toBe(true);
  });
});
