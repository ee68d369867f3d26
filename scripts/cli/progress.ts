/** Rendering of tasks: one-line summaries, progress bars, sizes. */
import type { TaskView } from "./api";

export const LIVE = new Set(["queued", "running", "retrying"]);

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function target(t: TaskView): string {
  return `${t.registryName ?? "-"}/${t.repository}${t.reference ? (t.reference.startsWith("sha256:") ? `@${t.reference.slice(0, 19)}` : `:${t.reference}`) : ""}`;
}

/** `[#########-----------]  45%` when the total is known, else a bouncing block. */
export function bar(t: TaskView, width = 24, tick = 0): string {
  if (t.status === "succeeded") return `[${"#".repeat(width)}] 100%`;
  if (t.bytesTotal && t.bytesTotal > 0) {
    const f = Math.min(1, t.bytesCopied / t.bytesTotal);
    const full = Math.round(f * width);
    return `[${"#".repeat(full)}${"-".repeat(width - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
  }
  if (t.status !== "running") return `[${"-".repeat(width)}]     `;
  const pos = tick % (2 * (width - 3));
  const at = pos < width - 3 ? pos : 2 * (width - 3) - pos;
  return `[${"-".repeat(at)}###${"-".repeat(width - 3 - at)}]     `;
}

export function line(t: TaskView, tick = 0, withBar = true): string {
  const size = t.bytesTotal ? `${bytes(t.bytesCopied)}/${bytes(t.bytesTotal)}` : bytes(t.bytesCopied);
  const blobs = `${t.blobsCopied} blobs${t.blobsSkipped ? ` (+${t.blobsSkipped} deduped)` : ""}`;
  const err = t.errorCode ? `  ${t.errorCode}: ${t.errorMessage ?? ""}` : "";
  return `#${t.id.padEnd(6)} ${t.status.padEnd(9)} ${t.kind.padEnd(13)} ${withBar ? `${bar(t, 24, tick)} ` : ""}${size.padEnd(20)} ${blobs}  ${target(t)}${err}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}
