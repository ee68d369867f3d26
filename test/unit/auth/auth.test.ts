import { describe, expect, it } from "vitest";
import {
  ACTIONS,
  authorize,
  can,
  csrfTokenFor,
  hashPassword,
  isMutation,
  minRole,
  readCookie,
  requestMeta,
  roleAtLeast,
  sessionCookie,
  sha256Hex,
  newApiToken,
  verifyPassword,
  checkPasswordPolicy,
  type Viewer,
} from "../../../lib/auth";
import { isAppError } from "../../../lib/errors";

const viewer = (role: Viewer["role"]): Viewer => ({ userId: "u", username: "u", role, via: "session" });

describe("passwords", () => {
  it("hashes with scrypt, salted, and verifies only the right password", async () => {
    const a = await hashPassword("correct horse battery");
    const b = await hashPassword("correct horse battery");
    expect(a).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain("correct");
    expect(await verifyPassword("correct horse battery", a)).toBe(true);
    expect(await verifyPassword("correct horse batterx", a)).toBe(false);
    expect(await verifyPassword("", a)).toBe(false);
  });

  it("treats malformed or absurd hashes as a mismatch instead of throwing or burning CPU", async () => {
    expect(await verifyPassword("x", "")).toBe(false);
    expect(await verifyPassword("x", "md5$abc")).toBe(false);
    expect(await verifyPassword("x", "scrypt$30$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==")).toBe(false);
    expect(await verifyPassword("x", "scrypt$15$8$1$AAAA$AA")).toBe(false);
  });

  it("enforces a length policy without echoing the password", () => {
    try {
      checkPasswordPolicy("short-pw");
      expect.unreachable();
    } catch (err) {
      expect(isAppError(err) && err.code).toBe("BAD_USER_INPUT");
      expect(String((err as Error).message)).not.toContain("short-pw");
    }
    expect(() => checkPasswordPolicy("long enough password")).not.toThrow();
  });
});

describe("tokens and CSRF", () => {
  it("makes unguessable API tokens with a recognisable prefix, stored as sha256", () => {
    const t = newApiToken();
    expect(t).toMatch(/^ferry_[A-Za-z0-9_-]{43}$/);
    expect(newApiToken()).not.toBe(t);
    expect(sha256Hex(t)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("derives a stable CSRF token per session that differs between sessions", () => {
    expect(csrfTokenFor("session-a")).toBe(csrfTokenFor("session-a"));
    expect(csrfTokenFor("session-a")).not.toBe(csrfTokenFor("session-b"));
    expect(csrfTokenFor("session-a")).not.toContain("session-a");
  });

  it("reads cookies and writes an httpOnly SameSite=Strict session cookie", () => {
    expect(readCookie("a=1; ferry_session=abc; b=2", "ferry_session")).toBe("abc");
    expect(readCookie("ferry_sessionx=abc", "ferry_session")).toBeNull();
    expect(readCookie(null, "ferry_session")).toBeNull();
    const c = sessionCookie("v", { maxAgeSeconds: 60, secure: true });
    expect(c).toContain("HttpOnly");
    expect(c).toContain("SameSite=Strict");
    expect(c).toContain("Secure");
    expect(sessionCookie("", { maxAgeSeconds: 0, secure: false })).toContain("Max-Age=0");
  });

  it("takes the socket address set by Ferry's server over client-supplied headers", () => {
    const h = new Headers({ "x-forwarded-for": "6.6.6.6, 10.0.0.1", "x-ferry-remote-addr": "127.0.0.1", "user-agent": "t" });
    expect(requestMeta(h)).toEqual({ ip: "127.0.0.1", userAgent: "t" });
    expect(requestMeta(new Headers({ "x-forwarded-for": "6.6.6.6, 10.0.0.1" })).ip).toBe("6.6.6.6");
  });
});

describe("authorization", () => {
  it("orders roles", () => {
    expect(roleAtLeast("admin", "operator")).toBe(true);
    expect(roleAtLeast("viewer", "operator")).toBe(false);
    expect(minRole("admin", "viewer")).toBe("viewer");
  });

  it("lets viewers read and nothing else; operators operate; admins administer", () => {
    for (const action of Object.keys(ACTIONS) as (keyof typeof ACTIONS)[]) {
      expect(can(viewer("admin"), action)).toBe(true);
      expect(can(viewer("viewer"), action)).toBe(ACTIONS[action] === "viewer");
      if (isMutation(action)) expect(can(viewer("viewer"), action)).toBe(false);
    }
    expect(can(viewer("operator"), "task.cancel")).toBe(true);
    expect(can(viewer("operator"), "registry.create")).toBe(false);
    expect(can(viewer("operator"), "token.create")).toBe(false);
    expect(() => authorize(viewer("viewer"), "registry.sync")).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
  });
});
