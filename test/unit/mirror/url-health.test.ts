import { describe, expect, it } from "vitest";
import { describeNetworkError } from "../../../lib/mirror/url-health";

describe("url health error text", () => {
  it("keeps the code and message, never a query string or user info", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5000"), { code: "ECONNREFUSED" });
    expect(describeNetworkError(refused)).toBe("ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5000");
    const signed = new TypeError("fetch failed https://bucket.example/blob?X-Amz-Signature=abc123secret&X-Amz-Credential=AKIA", { cause: { code: "UND_ERR_SOCKET" } });
    const text = describeNetworkError(signed);
    expect(text).toMatch(/^UND_ERR_SOCKET: fetch failed https:\/\/bucket\.example\/blob\?…$/);
    expect(text).not.toContain("abc123secret");
    expect(describeNetworkError(new Error("GET https://bot:hunter2@registry.example/v2/ failed"))).not.toContain("hunter2");
    expect(describeNetworkError({ code: "ETIMEDOUT" })).toBe("ETIMEDOUT");
    expect(describeNetworkError(new Error("x".repeat(1000))).length).toBeLessThanOrEqual(220);
  });
});
