/**
 * `periodic` on content rules: which repositories rounds walk, and the rule a promotion adds so
 * a repository pulled on demand joins the rounds under the same local name.
 */
import { describe, expect, it } from "vitest";
import { importZotConfig } from "../../../lib/config";
import { ContentRules, parseRegistryConfig, planPromotion, type ContentRule } from "../../../lib/sync";

const parse = (content: unknown[]) => parseRegistryConfig({ name: "x", urls: ["https://r.example"], onDemand: true, pollInterval: "1h", content }).content;

describe("periodic content rules", () => {
  it("defaults to periodic, so existing configs (and zot imports) keep their meaning", () => {
    const rules = parse([{ prefix: "**" }]);
    expect(rules[0]!.periodic).toBe(true);
    expect(new ContentRules(rules).inRounds("anything/at/all")).toBe(true);
    expect(new ContentRules([]).inRounds("a/b")).toBe(true);
  });

  it("imports zot rules as periodic: zot's content serves rounds and on-demand alike", () => {
    const { config } = importZotConfig({ extensions: { sync: { enable: true, registries: [{ urls: ["https://r.example"], onDemand: true, pollInterval: "6h", content: [{ prefix: "**" }] }] } } });
    const [reg] = config.registries as unknown[];
    const parsed = parseRegistryConfig(reg);
    expect(parsed.content).toEqual([{ prefix: "**", stripPrefix: false, periodic: true }]);
    expect(new ContentRules(parsed.content).inRounds("any/repo")).toBe(true);
  });

  it("leaves repositories whose first matching rule is on-demand only out of rounds, but still maps them", () => {
    const rules = new ContentRules(parse([{ prefix: "team/**", destination: "t" }, { prefix: "**", destination: "hub", periodic: false }, { prefix: "library/**" }]));
    expect(rules.inRounds("team/app")).toBe(true);
    expect(rules.inRounds("library/alpine")).toBe(false); // shadowed by the on-demand-only "**"
    expect(rules.inRounds("other")).toBe(false);
    expect(rules.upstreamRepoFor("hub/library/alpine")).toBe("library/alpine");
    expect(rules.matches("library/alpine")).toBe(true);
    const none = new ContentRules(parse([{ prefix: "team/**" }]));
    expect(none.inRounds("elsewhere")).toBe(false);
  });

  it("rejects a periodic flag that is not a boolean, naming the field", () => {
    expect(() => parse([{ prefix: "**", periodic: "no" }])).toThrow(/content\[0\]\.periodic/);
  });

  it("plans an exact rule before the serving rule that maps to the same local name, with its filters", () => {
    const raw = [
      { prefix: "team/**", destination: "t" },
      { prefix: "library/*", destination: "hub", stripPrefix: true, periodic: false, tags: { regex: "^3\\.", latest: 2 }, platforms: ["linux/amd64"] },
      { prefix: "**", periodic: false },
    ];
    const rules = parse(raw);
    const plan = planPromotion(rules, "hub/alpine")!;
    expect(plan).toMatchObject({ upstreamRepo: "library/alpine", index: 1 });
    expect(plan.rule).toEqual({ prefix: "library/alpine", destination: "hub/alpine", stripPrefix: true, tags: { regex: "^3\\.", latest: { count: 2, by: "semver" } }, platforms: ["linux/amd64"], periodic: true });
    const after = new ContentRules(parse([...raw.slice(0, 1), plan.rule, ...raw.slice(1)]));
    expect(after.localRepoFor("library/alpine")).toBe("hub/alpine");
    expect(after.upstreamRepoFor("hub/alpine")).toBe("library/alpine");
    expect(after.inRounds("library/alpine")).toBe(true);
    // Only that repository joins the rounds.
    expect(after.inRounds("library/busybox")).toBe(false);
    expect(after.localRepoFor("library/busybox")).toBe("hub/busybox");
    // Same name on both sides: no destination needed.
    const same = planPromotion(rules, "some/thing")!;
    expect(same).toMatchObject({ upstreamRepo: "some/thing", index: 2, rule: { prefix: "some/thing", periodic: true } });
    expect(same.rule).not.toHaveProperty("destination");
    // Promoting again finds it covered: nothing to add.
    expect(planPromotion(after.rules as ContentRule[], "hub/alpine")).toEqual({ upstreamRepo: "library/alpine", index: 1 });
    expect(planPromotion(rules, "t/team/app")).toEqual({ upstreamRepo: "team/app", index: 0 });
    expect(planPromotion(parse([{ prefix: "team/**", destination: "t" }]), "nope")).toBeNull();
  });
});
