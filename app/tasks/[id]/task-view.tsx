"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useRef, useState } from "react";
import { DataTable, type Column } from "../../_components/table";
import { ActionButton, Countdown, Empty, LiveBadge, Pill, Progress, Time } from "../../_components/ui";
import { api } from "../../_lib/api";
import { bytes, dateTime, duration, shortDigest } from "../../_lib/format";
import { useLive } from "../../_lib/live";
import type { Perms, Task, TaskDetail } from "../../_lib/types";

type Outcome = { tag?: string; status?: string; digest?: string; bytes?: number; reason?: string; code?: string; message?: string; referrers?: number; referrersError?: { message?: string } };

const OUTCOME_COLUMNS: Array<Column<Outcome>> = [
  { header: "Tag", cell: (o) => <code>{o.tag}</code> },
  { header: "Outcome", cell: (o) => <Pill value={o.status ?? "?"} /> },
  { header: "Digest", cell: (o) => <code title={o.digest}>{shortDigest(o.digest)}</code> },
  { header: "Bytes", cell: (o) => (o.bytes !== undefined ? bytes(o.bytes) : "—") },
  {
    header: "Details",
    className: "small",
    cell: (o) => (
      <>
        {o.reason ?? (o.code ? `${o.code}: ${o.message ?? ""}` : "")}
        {o.referrers ? `${o.referrers} referrers` : ""}
        {o.referrersError?.message ? ` referrers failed: ${o.referrersError.message}` : ""}
      </>
    ),
  },
];

const LIVE = new Set(["queued", "running", "retrying"]);
const LOG_EVERY_MS = 5000;

export function TaskView({ initial, perms }: { initial: TaskDetail; perms: Perms }) {
  const [task, setTask] = useState(initial);
  const router = useRouter();
  const lastRead = useRef(0);
  const shown = useRef(task.status);
  shown.current = task.status;
  const reload = useCallback(async () => {
    lastRead.current = Date.now();
    setTask(await api<TaskDetail>("GET", `/tasks/${initial.id}`));
  }, [initial.id]);
  const status = useLive({
    taskId: initial.id,
    // The event is the task without its log: apply it at once; read the log again when the status
    // changes, and at most every few seconds while progress events stream in.
    tasks: (t) => {
      if (t.status !== shown.current || Date.now() - lastRead.current > LOG_EVERY_MS) void reload().catch(() => {});
      setTask((cur) => ({ ...cur, ...t }));
    },
    onSync: reload,
  });

  const outcomes = task.outcomes as Outcome[];
  const counts = outcomes.reduce<Record<string, number>>((m, o) => ((m[o.status ?? "?"] = (m[o.status ?? "?"] ?? 0) + 1), m), {});
  const timeline: Array<{ at: string | null; label: string }> = [
    { at: task.queuedAt, label: `Queued (${task.trigger}, priority ${task.priority})` },
    ...(task.runAfter !== task.queuedAt && task.status === "retrying" ? [{ at: task.runAfter, label: "Next attempt" }] : []),
    { at: task.startedAt, label: `Started (attempt ${task.attempts} of ${task.maxAttempts})` },
    { at: task.finishedAt, label: task.finishedAt ? `Finished: ${task.status}${task.errorCode ? ` (${task.errorCode})` : ""}` : "Finished" },
  ];

  return (
    <>
      <p className="small">
        <Link href="/tasks">← Tasks</Link>
      </p>
      <div className="page-head">
        <h1>
          Task #{task.id} <span className="muted">{task.kind}</span>
        </h1>
        <span data-testid="task-status">
          <Pill value={task.status} />
        </span>
        <LiveBadge status={status} />
      </div>
      <p>
        <strong>{task.registryName ?? "deleted registry"}</strong> · <code>{task.repository}{task.reference ? `:${task.reference}` : ""}</code>
      </p>
      {perms.operate ? (
        <div className="actions">
          {LIVE.has(task.status) ? (
            <ActionButton
              label="Cancel task"
              variant="danger"
              confirm={`Cancel task #${task.id}?`}
              run={async () => {
                setTask({ ...task, ...(await api<Task>("POST", `/tasks/${task.id}/cancel`)) });
                return "Cancelled";
              }}
            />
          ) : null}
          {task.status === "failed" || task.status === "cancelled" ? (
            <ActionButton
              label="Retry"
              variant="primary"
              run={async () => {
                const copy = await api<Task>("POST", `/tasks/${task.id}/retry`);
                router.push(`/tasks/${copy.id}`);
                return `Queued as task #${copy.id}`;
              }}
            />
          ) : null}
        </div>
      ) : null}
      {task.errorMessage ? (
        <p className="banner bad" role="note">
          {task.errorCode}: {task.errorMessage}
          {task.status === "retrying" ? (
            <>
              {" "}
              · next attempt <Countdown iso={task.runAfter} done="now" />
            </>
          ) : null}
        </p>
      ) : null}

      <section className="card" aria-labelledby="prog-h">
        <h2 id="prog-h">Transfer</h2>
        {task.status === "running" ? <Progress value={task.bytesCopied} max={task.bytesTotal} label="Bytes copied" /> : null}
        <dl className="stats">
          <div>
            <dt>Copied</dt>
            <dd data-testid="bytes-copied">
              {bytes(task.bytesCopied)}
              {task.bytesTotal ? ` of ${bytes(task.bytesTotal)}` : ""}
            </dd>
          </div>
          <div>
            <dt>Blobs copied</dt>
            <dd>{task.blobsCopied}</dd>
          </div>
          <div>
            <dt>Blobs skipped</dt>
            <dd>{task.blobsSkipped}</dd>
          </div>
          <div>
            <dt>Took</dt>
            <dd>{task.startedAt && task.finishedAt ? duration(new Date(task.finishedAt).getTime() - new Date(task.startedAt).getTime()) : task.startedAt ? "running" : "—"}</dd>
          </div>
        </dl>
      </section>

      <section className="card" aria-labelledby="tl-h">
        <h2 id="tl-h">Timeline</h2>
        <ol className="timeline">
          {timeline.map((e) => (
            <li key={e.label} className={e.at ? "" : "pending"}>
              <span className="when">{e.at ? <Time iso={e.at} /> : "—"}</span> {e.label}
              {e.at ? <span className="muted small"> · {dateTime(e.at)}</span> : null}
            </li>
          ))}
        </ol>
      </section>

      <section className="card" aria-labelledby="out-h">
        <h2 id="out-h">Per-tag outcomes</h2>
        {outcomes.length === 0 ? (
          <Empty title={LIVE.has(task.status) ? "Outcomes appear when the task finishes" : "No tags were processed"} />
        ) : (
          <>
            <p className="small muted">{Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(" · ")}</p>
            <DataTable rows={outcomes} columns={OUTCOME_COLUMNS} rowKey={(o, i) => `${o.tag}-${i}`} testId="outcomes" />
          </>
        )}
      </section>

      <section className="card" aria-labelledby="log-h">
        <h2 id="log-h">Log</h2>
        {task.events.length === 0 ? (
          <Empty title="No log entries" />
        ) : (
          <ol className="log" data-testid="task-log">
            {task.events.map((e) => (
              <li key={e.id} className={`lvl-${e.level}`}>
                <span className="muted small">{dateTime(e.at)}</span> <span className={`pill ${e.level === "error" ? "bad" : e.level === "warn" ? "warn" : "muted"}`}>{e.level}</span> {e.message}
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}
