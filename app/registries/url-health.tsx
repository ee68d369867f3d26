"use client";
/**
 * Each upstream url with what Ferry last saw of it (Registry.urlHealth): up, down or not yet
 * asked, when, the last failure, and the rate-limit budget the upstream reported.
 */
import { Pill, Time } from "../_components/ui";
import type { Registry } from "../_lib/types";

export function UrlHealthList({ health }: { health: Registry["urlHealth"] }) {
  if (health.length === 0) return null;
  return (
    <ul className="url-health" aria-label="Upstream urls">
      {health.map((h) => (
        <li key={h.url} data-testid="url-health">
          <code>{h.url}</code> <Pill value={h.status.toLowerCase()} />
          {h.lastCheckedAt ? (
            <span className="small muted">
              {" "}
              checked <Time iso={h.lastCheckedAt} />
            </span>
          ) : null}
          {h.rateLimitRemaining !== null ? <span className="small"> · {h.rateLimitRemaining} requests left in the rate limit</span> : null}
          {h.lastError ? <div className="error-text small">{h.lastError}</div> : null}
        </li>
      ))}
    </ul>
  );
}
