/** A small inline SVG chart: bytes as bars, images as a line, one bucket per slot. No library. */
import { bytes } from "../_lib/format";
import type { Bucket } from "../_lib/types";

export function HistoryChart({ buckets, bucketMs }: { buckets: Bucket[]; bucketMs: number }) {
  const W = 720;
  const H = 160;
  const pad = { l: 8, r: 8, t: 10, b: 22 };
  const n = Math.max(1, buckets.length);
  const maxBytes = Math.max(1, ...buckets.map((b) => b.bytes));
  const maxImages = Math.max(1, ...buckets.map((b) => b.images));
  const slot = (W - pad.l - pad.r) / n;
  const y = (v: number, max: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const totalBytes = buckets.reduce((s, b) => s + b.bytes, 0);
  const totalImages = buckets.reduce((s, b) => s + b.images, 0);
  const line = buckets.map((b, i) => `${(pad.l + slot * i + slot / 2).toFixed(1)},${y(b.images, maxImages).toFixed(1)}`).join(" ");
  const label = (iso: string) => {
    const d = new Date(iso);
    return bucketMs >= 86_400_000 / 4 ? `${d.getUTCMonth() + 1}/${d.getUTCDate()}` : `${String(d.getUTCHours()).padStart(2, "0")}:00`;
  };
  const every = Math.ceil(n / 8);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Synced ${bytes(totalBytes)} and ${totalImages} images in this period`} preserveAspectRatio="none">
        <line x1={pad.l} x2={W - pad.r} y1={H - pad.b} y2={H - pad.b} className="axis" />
        {buckets.map((b, i) => (
          <rect key={b.at} x={pad.l + slot * i + 1} width={Math.max(1, slot - 2)} y={y(b.bytes, maxBytes)} height={H - pad.b - y(b.bytes, maxBytes)} className="bar-bytes">
            <title>{`${label(b.at)} UTC: ${bytes(b.bytes)}, ${b.images} images, ${b.tasks} tasks${b.failed ? `, ${b.failed} failed` : ""}`}</title>
          </rect>
        ))}
        <polyline points={line} className="line-images" fill="none" />
        {buckets.map((b, i) =>
          i % every === 0 ? (
            <text key={`t${b.at}`} x={pad.l + slot * i + slot / 2} y={H - 6} className="tick" textAnchor="middle">
              {label(b.at)}
            </text>
          ) : null,
        )}
      </svg>
      <figcaption className="muted small">
        <span className="swatch bytes" aria-hidden="true" /> bytes (max {bytes(maxBytes)} per slot) · <span className="swatch images" aria-hidden="true" /> images (max {maxImages}) ·
        total {bytes(totalBytes)}, {totalImages} images (UTC)
      </figcaption>
    </figure>
  );
}
