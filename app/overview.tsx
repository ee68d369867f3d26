"use client";
import Link from "next/link";
import { useCallback, useMemo, useRef, useState } from "react";
import { HistoryChart } from "./_components/chart";
import { ActionButton, Countdown, Empty, LiveBadge, Pill, Progress, Time } from "./_components/ui";
import { api } from "./_lib/api";
import { bytes } from "./_lib/format";
import { useLive, useNow } from "./_lib/live";
import type { Bucket, Generator, Page, Perms, Task, Totals } from "./_lib/types";

interface RegistryBrief {
  name: string;
  enabled: boolean;
  urls: string[];
}

interface Initial {
  generators: Generator[];
  registries: RegistryBrief[];
  totals: Totals;
  history: { range: "24h" | "7d"; bucketMs: number; buckets: Bucket[] };
  running: Task[];
}

/** Byte counters of one running task at its last two events, for "throughput now". */
interface Sample {
  registry: string;
  at: number;
  bytes: number;
  rate: number;
}

/** A task's rate stops counting when its counters have not moved for this long (stalled). */
const STALE_MS = 15_000;

/** Bytes per second per registry: the sum of each running task's rate between its last two progress events. */
function throughputOf(samples: Map<string, Sample>, now: number | null): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples.values()) {
    if (now !== null && now - s.at > STALE_MS) continue;
    out.set(s.registry, (out.get(s.registry) ?? 0) + s.rate);
  }
  return out;
}

export function Overview({ initial, perms }: { initial: Initial; perms: Perms }) {
  const [gens, setGens] = useState(() => new Map(initial.generators.map((g) => [g.registryName, g])));
  const [registries, setRegistries] = useState(initial.registries);
  const [totals, setTotals] = useState(initial.totals);
  const [history, setHistory] = useState(initial.history);
  const [running, setRunning] = useState(initial.running);
  const [samples, setSamples] = useState<Map<string, Sample>>(new Map());
  const now = useNow(5000);

  const refreshTotals = useCallback(async () => {
    setTotals(await api<Totals>("GET", "/store/totals"));
  }, []);
  const refreshRegistries = useCallback(async () => {
    const r = await api<{ items: Array<{ name: string; enabled: boolean; config: { urls?: string[] } }> }>("GET", "/registries");
    setRegistries(r.items.map((x) => ({ name: x.name, enabled: x.enabled, urls: x.config.urls ?? [] })));
  }, []);
  const loadHistory = useCallback(async (range: "24h" | "7d") => {
    setHistory(await api<Initial["history"]>("GET", `/history?range=${range}`));
  }, []);
  // The catch-up after each (re)connection, and the slow poll while the stream is down.
  const sync = useCallback(async () => {
    const [g, t] = await Promise.all([api<{ items: Generator[] }>("GET", "/generators"), api<Page<Task>>("GET", "/tasks?status=running&limit=100"), refreshRegistries(), refreshTotals()]);
    setGens(new Map(g.items.map((x) => [x.registryName, x])));
    setRunning(t.items);
  }, [refreshRegistries, refreshTotals]);
  const known = useRef(registries);
  known.current = registries;

  const finishedTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const status = useLive({
    generators: (g) => {
      setGens((m) => new Map(m).set(g.registryName, g));
      // A registry added since the page loaded: read its url and state.
      if (!known.current.some((r) => r.name === g.registryName)) void Promise.all([refreshRegistries(), refreshTotals()]).catch(() => {});
    },
    tasks: (t) => {
      const isRunning = t.status === "running";
      setRunning((list) => (isRunning ? [...list.filter((x) => x.id !== t.id), t] : list.filter((x) => x.id !== t.id)));
      setSamples((m) => {
        const next = new Map(m);
        const prev = m.get(t.id);
        if (!isRunning || !t.registryName) next.delete(t.id);
        else {
          const at = Date.now();
          const rate = prev && at > prev.at ? (Math.max(0, t.bytesCopied - prev.bytes) * 1000) / (at - prev.at) : 0;
          next.set(t.id, { registry: t.registryName, at, bytes: t.bytesCopied, rate });
        }
        return next;
      });
      if (t.status === "succeeded" || t.status === "failed") {
        // Coalesce a burst of finishing tasks into one re-read of totals and the chart.
        finishedTimer.current ??= setTimeout(() => {
          finishedTimer.current = null;
          void refreshTotals();
          void loadHistory(history.range);
        }, 800);
      }
    },
    onSync: sync,
  });
  const rate = throughputOf(samples, now);

  const names = useMemo(() => {
    const s = new Set(registries.map((r) => r.name));
    for (const g of gens.keys()) s.add(g);
    return [...s].sort();
  }, [registries, gens]);

  return (
    <>
      <div className="page-head">
        <h1>Overview</h1>
        <LiveBadge status={status} />
      </div>

      <section aria-labelledby="totals-h" className="totals">
        <h2 id="totals-h" className="sr-only">
          Store totals
        </h2>
        <dl className="stats" data-testid="totals">
          <div>
            <dt>Registries</dt>
            <dd>{totals.registries}</dd>
          </div>
          <div>
            <dt>Repositories</dt>
            <dd>{totals.repositories}</dd>
          </div>
          <div>
            <dt>Tags</dt>
            <dd>{totals.tags}</dd>
          </div>
          <div>
            <dt>Stored</dt>
            <dd title="distinct bytes on disk">{bytes(totals.storeBytes ?? totals.imageBytes)}</dd>
          </div>
          <div>
            <dt>Last sync</dt>
            <dd>
              <Time iso={totals.lastSyncedAt} />
            </dd>
          </div>
        </dl>
      </section>

      <section aria-labelledby="regs-h">
        <h2 id="regs-h">Registries</h2>
        {names.length === 0 ? (
          <Empty title="No registries yet">
            <p>
              {perms.admin ? (
                <>
                  <Link href="/registries/new">Add a registry</Link> to start mirroring, or declare one in <code>ferry.config.json</code>.
                </>
              ) : (
                <>Ask an administrator to add a registry, or declare one in <code>ferry.config.json</code>.</>
              )}
            </p>
          </Empty>
        ) : (
          <div className="cards">
            {names.map((name) => (
              <RegistryCard key={name} name={name} g={gens.get(name)} reg={registries.find((r) => r.name === name)} running={running.filter((t) => t.registryName === name)} rate={rate.get(name) ?? 0} perms={perms} onChange={(g) => setGens((m) => new Map(m).set(g.registryName, g))} />
            ))}
          </div>
        )}
      </section>

      <section aria-labelledby="hist-h" className="card">
        <div className="page-head">
          <h2 id="hist-h">Synced over the last {history.range === "24h" ? "24 hours" : "7 days"}</h2>
          <div role="group" aria-label="Chart range" className="seg">
            {(["24h", "7d"] as const).map((r) => (
              <button key={r} type="button" className="btn plain small" aria-pressed={history.range === r} onClick={() => void loadHistory(r)}>
                {r}
              </button>
            ))}
          </div>
        </div>
        <HistoryChart buckets={history.buckets} bucketMs={history.bucketMs} />
      </section>
    </>
  );
}

function phaseText(g: Generator | undefined): React.ReactNode {
  if (!g) return <span className="muted">No round yet: the first starts at the next scheduler tick (or use Sync now).</span>;
  switch (g.phase) {
    case "backing-off":
      return (
        <>
          Upstream failed; asking again <Countdown iso={g.backoffUntil} />
        </>
      );
    case "waiting":
      return g.nextRoundAt ? (
        <>
          Round {g.round} done; next round <Countdown iso={g.nextRoundAt} done="starting" />
        </>
      ) : (
        <>Round {g.round} done; no periodic sync (on demand only)</>
      );
    case "paused":
      return <>Paused: no new work is handed out</>;
    case "listing":
      return <>Round {g.round}: reading the catalog</>;
    case "syncing":
      return <>Round {g.round}: syncing repositories</>;
    default:
      return g.round > 0 ? <>Round {g.round} finished</> : <>Idle</>;
  }
}

function RegistryCard(props: { name: string; g: Generator | undefined; reg: RegistryBrief | undefined; running: Task[]; rate: number; perms: Perms; onChange: (g: Generator) => void }) {
  const { name, g, running, rate, perms } = props;
  const total = g ? g.reposDone + g.reposQueued + Math.min(g.runningTasks, running.length || g.runningTasks) : 0;
  const inRound = g && (g.phase === "listing" || g.phase === "syncing");
  return (
    <article className="card reg-card" aria-labelledby={`reg-${name}`} data-testid={`registry-card-${name}`}>
      <header className="card-head">
        <h3 id={`reg-${name}`}>
          <Link href={`/registries/${encodeURIComponent(name)}`}>{name}</Link>
        </h3>
        <span data-testid="phase">
          <Pill value={g?.phase ?? "idle"} />
        </span>
        {props.reg && !props.reg.enabled ? <Pill value="disabled" /> : null}
      </header>
      <p className="small muted">{props.reg?.urls[0] ?? ""}</p>
      <p>{phaseText(g)}</p>
      {g && (inRound || g.reposDone > 0) ? (
        <div className="round">
          <span data-testid="round-progress">
            {g.reposDone} / {total} repositories
          </span>
          <Progress value={g.reposDone} max={inRound && g.phase === "listing" && total === 0 ? null : total} label={`Round progress of ${name}`} />
        </div>
      ) : null}
      {g?.lastRepo ? (
        <p className="small">
          Last repository: <code>{g.lastRepo}</code>
        </p>
      ) : null}
      <p className="small">
        Running tasks: <strong data-testid="running-count">{running.length}</strong>
        {running.length > 0 ? <> · throughput {bytes(rate)}/s</> : null}
      </p>
      {running.length > 0 ? (
        <ul className="running">
          {running.slice(0, 5).map((t) => (
            <li key={t.id}>
              <Link href={`/tasks/${t.id}`}>{t.repository}{t.reference ? `:${t.reference}` : ""}</Link> <span className="muted small">{bytes(t.bytesCopied)}{t.bytesTotal ? ` / ${bytes(t.bytesTotal)}` : ""}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {g?.lastError ? (
        <p className="error-text small" data-testid="last-error">
          Last error: {g.lastError}
        </p>
      ) : null}
      {perms.operate ? (
        <div className="actions">
          <ActionButton label="Sync now" testId={`sync-${name}`} run={async () => {
            const next = await api<Generator>("POST", `/registries/${encodeURIComponent(name)}/sync`);
            props.onChange(next);
            return "Round started";
          }} />
          {g?.paused ? (
            <ActionButton label="Resume" run={async () => (props.onChange(await api<Generator>("POST", `/registries/${encodeURIComponent(name)}/resume`)), "Resumed")} />
          ) : (
            <ActionButton label="Pause" run={async () => (props.onChange(await api<Generator>("POST", `/registries/${encodeURIComponent(name)}/pause`)), "Paused")} />
          )}
          <Link href={`/tasks?registry=${encodeURIComponent(name)}`} className="small">Tasks →</Link>
        </div>
      ) : (
        <div className="actions"><Link href={`/tasks?registry=${encodeURIComponent(name)}`} className="small">Tasks →</Link></div>
      )}
    </article>
  );
}
