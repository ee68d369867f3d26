import { describe, expect, it } from "vitest";
import { decide, isFailing, webhooksFrom, type ConditionState, type RegistryHealth } from "../../../lib/alerts";

const NOW = new Date("2026-11-29T12:00:00Z");
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);
const SECRET = "0123456789abcdef0123";

function hook(extra: object = {}) {
  const [w] = webhooksFrom({
    evaluateInterval: 1000,
    webhooks: [{ name: "h", url: "https://hooks.example/x", secret: SECRET, registries: "all", events: ["failure", "recovery", "freshness"], freshnessThreshold: 600_000, maxAttempts: 3, failureAfter: 2, retryDelay: 1000, timeout: 1000, ...extra }],
  });
  return w!;
}

function health(extra: Partial<RegistryHealth> = {}): RegistryHealth {
  return { id: "r1", name: "hub", failure: null, failingSince: null, lastSuccessAt: ago(60), failedTasksInARow: 0, failingRepositories: 0, failingSample: [], freshSince: ago(60), now: NOW, ...extra };
}

const failing = health({ failure: { source: "catalog", code: null, message: "HTTP 503" }, failingSince: ago(5) });
const states = (entries: Array<[string, ConditionState, Date]>) => new Map(entries.map(([k, state, since]) => [`h|r1|${k}`, { state, since }]));
const reg = (h: RegistryHealth, periodic = true) => [{ id: h.id, name: h.name, periodic, health: h }];

describe("alert transitions", () => {
  it("a healthy registry seen for the first time records ok and sends nothing", () => {
    const t = decide([hook()], reg(health()), new Map());
    expect(t.map((x) => [x.condition, x.to, x.event])).toEqual([
      ["failure", "ok", null],
      ["freshness", "ok", null],
    ]);
  });

  it("failing → one failure event with the reason; while it stays failing, nothing", () => {
    const [t] = decide([hook()], reg(failing), states([["failure", "ok", ago(100)], ["freshness", "ok", ago(100)]]));
    expect(t).toMatchObject({ condition: "failure", to: "alerting", event: "failure", since: ago(5) });
    expect(t!.payload).toMatchObject({ type: "failure", webhook: "h", registry: "hub", condition: "failure", since: ago(5).toISOString(), reason: { source: "catalog", message: "HTTP 503" } });
    expect(decide([hook()], reg(failing), states([["failure", "alerting", ago(5)], ["freshness", "ok", ago(100)]]))).toEqual([]);
  });

  it("a registry already failing when first seen is reported (a webhook added during an outage hears of it)", () => {
    const t = decide([hook()], reg(failing), new Map());
    expect(t.find((x) => x.condition === "failure")?.event).toBe("failure");
  });

  it("recovery carries when the failure began", () => {
    const [t] = decide([hook()], reg(health()), states([["failure", "alerting", ago(300)], ["freshness", "ok", ago(900)]]));
    expect(t).toMatchObject({ condition: "failure", to: "ok", event: "recovery" });
    expect(t!.payload).toMatchObject({ type: "recovery", condition: "failure", since: ago(300).toISOString() });
    expect(t!.payload!.reason).toBeUndefined();
  });

  it("freshness: stale past the threshold (periodic registries only), once, then recovery when fresh", () => {
    const stale = health({ lastSuccessAt: ago(700), freshSince: ago(700) });
    const [t] = decide([hook()], reg(stale), states([["failure", "ok", ago(900)], ["freshness", "ok", ago(900)]]));
    expect(t).toMatchObject({ condition: "freshness", event: "freshness", since: ago(100) });
    expect(t!.payload!.freshness).toEqual({ lastSuccessAt: ago(700).toISOString(), secondsSinceLastSuccess: 700, thresholdSeconds: 600 });
    expect(decide([hook()], reg(stale), states([["failure", "ok", ago(900)], ["freshness", "alerting", ago(100)]]))).toEqual([]);
    expect(decide([hook()], reg(stale, false), states([["failure", "ok", ago(900)]]))).toEqual([]);
    const [back] = decide([hook()], reg(health()), states([["failure", "ok", ago(900)], ["freshness", "alerting", ago(100)]]));
    expect(back).toMatchObject({ condition: "freshness", to: "ok", event: "recovery" });
  });

  it("follows the state without sending what the webhook does not subscribe to, and only for its registries", () => {
    const quiet = hook({ events: ["failure"] });
    const [back] = decide([quiet], reg(health()), states([["failure", "alerting", ago(300)]]));
    expect(back).toMatchObject({ to: "ok", event: null, payload: null });
    expect(decide([hook({ registries: ["other"] })], reg(failing), new Map())).toEqual([]);
  });

  describe("failure hysteresis (failureAfter)", () => {
    const taskFailed = (inARow: number) =>
      health({ failure: { source: "task", code: "UPSTREAM_ERROR", message: "HTTP 500", taskId: "7", kind: "sync-repository", repository: "lib/bad" }, failingSince: ago(5), failedTasksInARow: inARow });
    const okStates = states([["failure", "ok", ago(100)], ["freshness", "ok", ago(100)]]);
    const failureOf = (t: ReturnType<typeof decide>) => t.filter((x) => x.condition === "failure").map((x) => [x.to, x.event]);

    it("one failed task among succeeding ones, round after round, never alerts (default failureAfter 2)", () => {
      // Each round: the bad repository's task fails (streak 1), then another repository's task succeeds.
      const s = okStates;
      for (let round = 0; round < 3; round++) {
        expect(failureOf(decide([hook()], reg(taskFailed(1)), s))).toEqual([]);
        expect(failureOf(decide([hook()], reg(health()), s))).toEqual([]);
      }
    });

    it("with failureAfter 1 a lone failure alerts; a success recovers only once no repository of the last two rounds is failing", () => {
      const immediate = hook({ failureAfter: 1 });
      expect(failureOf(decide([immediate], reg(taskFailed(1)), okStates))).toEqual([["alerting", "failure"]]);
      const alerting = states([["failure", "alerting", ago(5)], ["freshness", "ok", ago(100)]]);
      expect(failureOf(decide([immediate], reg(health({ failingRepositories: 1, failingSample: ["lib/bad"] })), alerting))).toEqual([]);
      expect(failureOf(decide([immediate], reg(health()), alerting))).toEqual([["ok", "recovery"]]);
    });

    it("two failing repositories that run back to back among healthy ones: one alert held across rounds, one recovery when both succeed", () => {
      // Each round: lib/a and lib/b fail one after the other (2 in a row), then lib/c succeeds.
      const bothFailing = { failingRepositories: 2, failingSample: ["lib/a", "lib/b"] };
      const sent: unknown[] = [];
      let s = okStates;
      const step = (h: RegistryHealth) => {
        const t = decide([hook()], reg(h), s).filter((x) => x.condition === "failure");
        for (const x of t) {
          if (x.event) sent.push(x.event);
          s = new Map(s).set("h|r1|failure", { state: x.to, since: x.since });
        }
      };
      for (let round = 0; round < 3; round++) {
        step(health({ ...taskFailed(1), ...bothFailing }));
        step(health({ ...taskFailed(2), ...bothFailing }));
        step(health(bothFailing));
      }
      expect(sent).toEqual(["failure"]);
      // lib/a is fixed: still lib/b; then lib/b too: recovery.
      step(health({ failingRepositories: 1, failingSample: ["lib/b"] }));
      expect(sent).toEqual(["failure"]);
      step(health());
      expect(sent).toEqual(["failure", "recovery"]);
    });

    it("names the failing repositories in the failure event", () => {
      const [t] = decide([hook()], reg(health({ ...taskFailed(2), failingRepositories: 7, failingSample: ["lib/a", "lib/b", "lib/c", "lib/d", "lib/e"] })), okStates);
      expect(t!.payload).toMatchObject({ type: "failure", failingRepositories: { count: 7, sample: ["lib/a", "lib/b", "lib/c", "lib/d", "lib/e"] } });
    });

    it("failureAfter tasks failed in a row alert once; while alerting, any failure keeps it; a success recovers", () => {
      expect(failureOf(decide([hook()], reg(taskFailed(2)), okStates))).toEqual([["alerting", "failure"]]);
      expect(failureOf(decide([hook({ failureAfter: 3 })], reg(taskFailed(2)), okStates))).toEqual([]);
      const alerting = states([["failure", "alerting", ago(5)], ["freshness", "ok", ago(100)]]);
      // After a success the streak restarts at 1: still failing evidence, so the alert holds (hysteresis).
      expect(failureOf(decide([hook({ failureAfter: 3 })], reg(taskFailed(1)), alerting))).toEqual([]);
      expect(failureOf(decide([hook()], reg(health()), alerting))).toEqual([["ok", "recovery"]]);
    });

    it("a catalog failure alerts at once whatever failureAfter says", () => {
      expect(failureOf(decide([hook({ failureAfter: 5 })], reg(failing), okStates))).toEqual([["alerting", "failure"]]);
      expect(isFailing({ failureAfter: 5 }, failing, false)).toBe(true);
      expect(isFailing({ failureAfter: 5 }, health(), true)).toBe(false);
    });
  });
});
