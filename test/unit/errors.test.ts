import { describe, expect, it } from "vitest";
import { AppError, httpStatusOf, isAppError, toPublicError } from "../../lib/errors";

describe("errors", () => {
  it("maps codes to HTTP statuses in one table", () => {
    expect(httpStatusOf("NOT_FOUND")).toBe(404);
    expect(httpStatusOf("BAD_USER_INPUT")).toBe(400);
    expect(httpStatusOf("INTERNAL")).toBe(500);
  });

  it("shows AppErrors as they are and hides unknown errors", () => {
    const logged: unknown[] = [];
    expect(toPublicError(new AppError("CONFLICT", "exists", { details: { name: "x" } }))).toEqual({
      code: "CONFLICT",
      message: "exists",
      details: { name: "x" },
    });
    const secret = new Error("password=hunter2 at /etc/x");
    const pub = toPublicError(secret, (e) => logged.push(e));
    expect(pub).toEqual({ code: "INTERNAL", message: "Internal error" });
    expect(JSON.stringify(pub)).not.toContain("hunter2");
    expect(logged).toEqual([secret]);
  });

  it("recognises AppErrors by code, not by class identity", () => {
    const foreign = Object.assign(new Error("x"), { name: "AppError", code: "NOT_FOUND" });
    expect(isAppError(foreign)).toBe(true);
    expect(isAppError(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(false);
  });
});
