/** lib/http/turn-budget: API work yields to the rest of the event loop once a pass has used its budget. */
import { describe, expect, it } from "vitest";
import { turnBudget } from "../../../lib/http/turn-budget";

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn CPU like a request would
  }
}

describe("turnBudget", () => {
  it("runs a request at once, defers the rest of a long pass, and keeps their order", async () => {
    const admit = turnBudget(5);
    const order: string[] = [];
    // Something else in the process waiting for the loop (a sync step's socket callback).
    setImmediate(() => order.push("background"));
    for (let i = 0; i < 6; i++) {
      admit(() => {
        order.push(`req${i}`);
        busy(3);
      });
    }
    // The first ran at once; 18 ms of requests do not fit in one 5 ms pass, so some waited.
    const atOnce = order.length;
    expect(order[0]).toBe("req0");
    expect(atOnce).toBeLessThan(6);
    await new Promise((r) => setTimeout(r, 200));
    // The waiting work got its turn before the deferred requests, which kept their order.
    expect(order.indexOf("background")).toBe(atOnce);
    expect(order.filter((o) => o.startsWith("req"))).toEqual(["req0", "req1", "req2", "req3", "req4", "req5"]);
  });
});
