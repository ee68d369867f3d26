"use client";
/**
 * Live updates for client components: GraphQL subscriptions (`generatorChanged`, `taskChanged`)
 * over SSE with graphql-sse. Pages keep no timers of their own: generator phases, task status and
 * a running task's byte counters (published at each lease renewal) all arrive on the stream. The
 * stream carries snapshots, so a missed event is repaired by re-reading: on every (re)connection
 * `onSync` runs (the catch-up), and while the stream is down the page polls slowly with `onSync`
 * until it comes back.
 */
import { createClient, type Client } from "graphql-sse";
import { useEffect, useRef, useState } from "react";
import { csrfToken } from "./api";
import type { Generator, Task } from "./types";

export type LiveStatus = "connecting" | "live" | "polling";

const GENERATOR_FIELDS = "registryId registryName phase paused round lastRepo reposDone reposQueued runningTasks roundStartedAt roundEndedAt backoffUntil waitTimeMs nextRoundAt lastError updatedAt";
const TASK_FIELDS =
  "id kind registryId registryName repository reference priority status attempts maxAttempts trigger runAfter queuedAt startedAt finishedAt bytesCopied blobsCopied blobsSkipped bytesTotal outcomes errorCode errorMessage";

export interface LiveOptions {
  generators?: (g: Generator) => void;
  tasks?: (t: Task) => void;
  /** Task subscription filter. */
  taskId?: string;
  /** Re-read state: after (re)connecting, and periodically while the stream is down. */
  onSync?: () => void | Promise<void>;
  pollMs?: number;
}

let shared: Client | null = null;
function client(): Client {
  return (shared ??= createClient({
    url: "/api/graphql/stream",
    headers: () => ({ "x-csrf-token": csrfToken() }),
    credentials: "same-origin",
    retryAttempts: 3,
  }));
}

export function useLive(opts: LiveOptions): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const ref = useRef(opts);
  ref.current = opts;
  const wantGenerators = opts.generators !== undefined;
  const wantTasks = opts.tasks !== undefined;
  const taskId = opts.taskId;

  useEffect(() => {
    let stopped = false;
    const unsubs: Array<() => void> = [];
    let poll: ReturnType<typeof setInterval> | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let open = 0;
    const want = Number(wantGenerators) + Number(wantTasks);
    const sync = () => void Promise.resolve(ref.current.onSync?.()).catch(() => {});
    const startPolling = () => {
      if (stopped) return;
      setStatus("polling");
      poll ??= setInterval(sync, ref.current.pollMs ?? 10_000);
      retry ??= setTimeout(() => {
        retry = null;
        subscribeAll();
      }, 15_000);
    };
    const connected = () => {
      open++;
      if (open >= want) {
        setStatus("live");
        if (poll) clearInterval(poll);
        poll = null;
      }
      sync();
    };
    const subscribeAll = () => {
      for (const u of unsubs.splice(0)) u();
      open = 0;
      const sub = <T,>(query: string, key: string, deliver: (v: T) => void) =>
        client().subscribe<Record<string, T>>(
          { query },
          {
            next: (r) => {
              const v = r.data?.[key];
              if (v) deliver(v);
            },
            error: (err) => {
              console.warn("live updates: stream failed, polling instead", err);
              startPolling();
            },
            complete: () => {
              if (stopped) return;
              console.warn("live updates: stream ended, polling instead");
              startPolling();
            },
          },
          { connected },
        );
      if (wantGenerators) unsubs.push(sub<Generator>(`subscription { generatorChanged { ${GENERATOR_FIELDS} } }`, "generatorChanged", (g) => ref.current.generators?.(g)));
      if (wantTasks) {
        const args = taskId ? `(id: ${JSON.stringify(taskId)})` : "";
        unsubs.push(sub<Task>(`subscription { taskChanged${args} { ${TASK_FIELDS} } }`, "taskChanged", (t) => ref.current.tasks?.(t)));
      }
    };
    subscribeAll();
    return () => {
      stopped = true;
      for (const u of unsubs) u();
      if (poll) clearInterval(poll);
      if (retry) clearTimeout(retry);
    };
  }, [wantGenerators, wantTasks, taskId]);

  return status;
}

/**
 * The current time, re-rendered every `ms` (countdowns). Null during server rendering and
 * hydration, so time-dependent text never mismatches the server's HTML.
 */
export function useNow(ms = 1000): number | null {
  const [now, setNow] = useState<number | null>(null);
  useEffect(() => {
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
