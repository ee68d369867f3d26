/**
 * deploy/kubernetes/ferry.yaml against Ferry itself, since no cluster is at hand to apply it:
 * each container's environment (its Secret, with the CHANGE-ME placeholders filled as an operator
 * would, and its own env) and the ConfigMap's config file pass Ferry's config loader, which
 * refuses unknown FERRY_* names and bad values; the ports, probes and Prometheus annotations
 * agree with what that config makes Ferry listen on and serve; the commands exist in the CLI; and
 * `runAsNonRoot` can be verified by the kubelet (a numeric image user, the one the Dockerfile makes).
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../../lib/config";

type Doc = { kind: string; metadata: { name: string }; [k: string]: unknown };
interface Container {
  name: string;
  args: string[];
  ports?: Array<{ containerPort: number; name: string }>;
  envFrom?: Array<{ secretRef: { name: string } }>;
  env?: Array<{ name: string; value: string }>;
  readinessProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface PodTemplate {
  metadata: { annotations: Record<string, string> };
  spec: { securityContext: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number }; containers: Container[] };
}

const docs = parseAllDocuments(readFileSync("deploy/kubernetes/ferry.yaml", "utf8")).map((d) => d.toJS() as Doc);
const dockerfile = readFileSync("deploy/Dockerfile", "utf8");
const one = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;
const deployments = docs.filter((d) => d.kind === "Deployment") as Array<Doc & { spec: { template: PodTemplate } }>;
/** The final stage's instructions (after the last FROM). */
const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));

describe("deploy/kubernetes/ferry.yaml", () => {
  let tmp: string;
  let configFile: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-k8s-"));
    const configMap = one("ConfigMap", "ferry-config") as Doc & { data: Record<string, string> };
    configFile = path.join(tmp, "ferry.config.yaml");
    await writeFile(configFile, configMap.data["ferry.config.yaml"]!);
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** The container's environment as the kubelet builds it, FERRY_CONFIG pointing at the ConfigMap's file. */
  function envOf(c: Container): Record<string, string> {
    const env: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      const secret = one("Secret", from.secretRef.name) as Doc & { stringData: Record<string, string> };
      for (const [k, v] of Object.entries(secret.stringData)) {
        // What an operator does with the placeholders (the key: 32 random bytes, base64).
        env[k] = !v.includes("CHANGE-ME") ? v : k === "FERRY_SECRET_KEY" ? randomBytes(32).toString("base64") : v.replaceAll("CHANGE-ME", "s3cret-value");
      }
    }
    for (const e of c.env ?? []) env[e.name] = e.value;
    return { ...env, FERRY_CONFIG: configFile };
  }

  it("has a server and a worker deployment", () => {
    expect(deployments.map((d) => d.spec.template.spec.containers[0]!.args[0]).sort()).toEqual(["start", "worker"]);
  });

  it.each(deployments.map((d) => [d.metadata.name, d.spec.template] as const))("%s: Ferry accepts its environment and config, and its ports, probes and annotations agree", (_name, pod) => {
    const c = pod.spec.containers[0]!;
    const cfg = loadConfig({ env: envOf(c), cwd: tmp });
    expect(cfg.source.file).toBe(configFile);
    expect(cfg.registries.length).toBeGreaterThan(0);
    const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    const annotations = pod.metadata.annotations;
    if (c.args[0] === "start") {
      expect(ports.get("http")).toBe(cfg.server.port);
      expect(Number(annotations["prometheus.io/port"])).toBe(cfg.server.port);
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        expect(probe?.httpGet.port).toBe("http");
        expect(existsSync(path.join("app", probe!.httpGet.path, "route.ts")), probe!.httpGet.path).toBe(true);
      }
    } else {
      expect(cfg.metrics.port).toBeTruthy();
      expect(ports.get("metrics")).toBe(cfg.metrics.port);
      expect(Number(annotations["prometheus.io/port"])).toBe(cfg.metrics.port);
    }
    // The CLI knows the command.
    expect(readFileSync("scripts/cli/index.ts", "utf8")).toContain(`case "${c.args[0]}":`);
    // The store volume is where the image tells Ferry to keep it.
    const storeDir = /FERRY_STORE_DIR=(\S+)/.exec(finalStage)?.[1];
    expect(c.volumeMounts.map((m) => m.mountPath)).toContain(storeDir);
  });

  it("can be verified as non-root: the image runs as a numeric user, whose group is the pods' fsGroup", () => {
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(finalStage);
    expect(user, "the final stage's USER must be numeric for runAsNonRoot to be verifiable").not.toBeNull();
    expect(Number(user![1])).toBeGreaterThan(0);
    const created = /useradd [^\n]*--uid (\d+)/.exec(finalStage);
    expect(created?.[1]).toBe(user![1]);
    for (const d of deployments) {
      const sc = d.spec.template.spec.securityContext;
      expect(sc.runAsNonRoot).toBe(true);
      expect(sc.fsGroup).toBe(Number(user![2] ?? user![1]));
      if (sc.runAsUser !== undefined) expect(sc.runAsUser).toBe(Number(user![1]));
    }
  });
});
