/**
 * Compares a Ferry store with its upstream registry, byte for byte: every tag resolves to the
 * upstream digest, every manifest in each tag's tree and every blob it references is stored with
 * the upstream's exact bytes. Reads the registry directly (not through any fault proxy).
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { Store } from "../../lib/store";
import { MT } from "./images";

const ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(", ");

export interface CompareReport {
  tags: number;
  manifests: number;
  blobs: number;
  problems: string[];
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function sha(b: Buffer): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

/** `repos`: upstream repository → local repository (same name unless mapped). */
export async function compareStoreWithUpstream(store: Store, registryUrl: string, repos: ReadonlyArray<string | [string, string]>): Promise<CompareReport> {
  const report: CompareReport = { tags: 0, manifests: 0, blobs: 0, problems: [] };
  const blobsDone = new Set<string>();
  for (const entry of repos) {
    const [up, local] = typeof entry === "string" ? [entry, entry] : entry;
    const tagsRes = await fetch(`${registryUrl}/v2/${up}/tags/list`);
    const tags = ((await tagsRes.json()) as { tags: string[] | null }).tags ?? [];
    for (const tag of tags) {
      report.tags++;
      const res = await fetch(`${registryUrl}/v2/${up}/manifests/${tag}`, { headers: { accept: ACCEPT } });
      const bytes = Buffer.from(await res.arrayBuffer());
      const digest = sha(bytes);
      const stored = await store.resolveTag(local, tag).catch(() => null);
      if (stored !== digest) {
        report.problems.push(`${local}:${tag} is ${stored ?? "missing"}, upstream ${digest}`);
        continue;
      }
      await compareTree(store, registryUrl, up, local, digest, report, blobsDone);
    }
  }
  return report;
}

async function compareTree(store: Store, url: string, up: string, local: string, digest: string, report: CompareReport, blobsDone: Set<string>): Promise<void> {
  report.manifests++;
  const res = await fetch(`${url}/v2/${up}/manifests/${digest}`, { headers: { accept: ACCEPT } });
  const upstream = Buffer.from(await res.arrayBuffer());
  let stored: Buffer;
  try {
    stored = (await store.getManifest(local, digest)).bytes;
  } catch {
    report.problems.push(`${local}@${digest}: manifest missing`);
    return;
  }
  if (!stored.equals(upstream)) report.problems.push(`${local}@${digest}: manifest bytes differ`);
  const doc = JSON.parse(upstream.toString("utf8")) as { config?: { digest: string }; layers?: Array<{ digest: string }>; manifests?: Array<{ digest: string }> };
  for (const child of doc.manifests ?? []) await compareTree(store, url, up, local, child.digest, report, blobsDone);
  for (const b of [doc.config, ...(doc.layers ?? [])]) {
    if (!b || blobsDone.has(`${local}@${b.digest}`)) continue;
    blobsDone.add(`${local}@${b.digest}`);
    report.blobs++;
    const ub = Buffer.from(await (await fetch(`${url}/v2/${up}/blobs/${b.digest}`)).arrayBuffer());
    let sb: Buffer;
    try {
      sb = await readAll(await store.openBlob(local, b.digest));
    } catch {
      report.problems.push(`${local}@${b.digest}: blob missing`);
      continue;
    }
    if (!sb.equals(ub) || sha(sb) !== b.digest) report.problems.push(`${local}@${b.digest}: blob bytes differ`);
  }
}
