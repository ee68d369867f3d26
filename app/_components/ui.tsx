"use client";
/** Small shared pieces: action buttons with feedback, times, progress, copy, live badge. */
import { useId, useState, type InputHTMLAttributes, type ReactNode } from "react";
import { errorMessage } from "../_lib/api";
import { dateTime, duration, relative } from "../_lib/format";
import type { LiveStatus } from "../_lib/live";
import { useNow } from "../_lib/live";

type Feedback = { kind: "pending" | "ok" | "error"; text: string } | null;

/**
 * A button that runs an API call and says how it went, in a polite live region next to it:
 * pending while it runs, then the success text or the API's error message.
 */
export function ActionButton(props: {
  label: string;
  run: () => Promise<string | void>;
  confirm?: string;
  variant?: "primary" | "danger" | "plain";
  disabled?: boolean;
  title?: string;
  testId?: string;
}) {
  const [fb, setFb] = useState<Feedback>(null);
  const onClick = async () => {
    if (props.confirm && !window.confirm(props.confirm)) return;
    setFb({ kind: "pending", text: `${props.label}…` });
    try {
      const msg = await props.run();
      setFb({ kind: "ok", text: msg || "Done" });
    } catch (err) {
      setFb({ kind: "error", text: errorMessage(err) });
    }
  };
  return (
    <span className="action">
      <button
        type="button"
        className={`btn ${props.variant ?? "plain"}`}
        onClick={onClick}
        disabled={props.disabled || fb?.kind === "pending"}
        aria-busy={fb?.kind === "pending"}
        title={props.title}
        data-testid={props.testId}
      >
        {props.label}
      </button>
      <span role="status" aria-live="polite" className={`feedback ${fb?.kind ?? ""}`}>
        {fb?.text ?? ""}
      </span>
    </span>
  );
}

/** Feedback line for forms: pending, success, error (role=alert for errors). */
export function FormStatus({ fb }: { fb: Feedback }) {
  if (!fb) return <p role="status" aria-live="polite" className="feedback" />;
  return (
    <p role={fb.kind === "error" ? "alert" : "status"} aria-live="polite" className={`feedback ${fb.kind}`}>
      {fb.text}
    </p>
  );
}
export type { Feedback };

/** A time shown relative ("3m ago") after hydration, absolute UTC in the tooltip and before. */
export function Time({ iso }: { iso: string | null | undefined }) {
  const now = useNow(5000);
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={dateTime(iso)}>
      {now === null ? dateTime(iso) : relative(iso, now)}
    </time>
  );
}

/** Live countdown to `iso` ("in 1m 05s"); `done` when it has passed. */
export function Countdown({ iso, done = "any moment" }: { iso: string | null; done?: string }) {
  const now = useNow(1000);
  if (!iso) return <span className="muted">—</span>;
  if (now === null) return <time dateTime={iso}>{dateTime(iso)}</time>;
  const left = new Date(iso).getTime() - now;
  return (
    <time dateTime={iso} title={dateTime(iso)} className="countdown">
      {left <= 0 ? done : `in ${duration(left)}`}
    </time>
  );
}

export function Progress({ value, max, label }: { value: number; max: number | null; label: string }) {
  if (!max || max <= 0) {
    return <progress aria-label={label} className="bar indeterminate" />;
  }
  const pct = Math.min(100, Math.round((value / max) * 100));
  return (
    <span className="bar-wrap">
      <progress aria-label={label} value={Math.min(value, max)} max={max} className="bar" />
      <span className="muted small">{pct}%</span>
    </span>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<"idle" | "ok" | "error">("idle");
  const copy = async () => {
    try {
      if (navigator.clipboard?.writeText) await navigator.clipboard.writeText(text);
      else {
        const ta = document.createElement("textarea");
        ta.value = text;
        document.body.appendChild(ta);
        ta.select();
        document.execCommand("copy");
        ta.remove();
      }
      setState("ok");
    } catch {
      setState("error");
    }
    setTimeout(() => setState("idle"), 2000);
  };
  return (
    <button type="button" className="btn plain small" onClick={copy} aria-label={`${label}: ${text}`}>
      {state === "ok" ? "Copied" : state === "error" ? "Copy failed" : label}
    </button>
  );
}

export function LiveBadge({ status }: { status: LiveStatus }) {
  const text = status === "live" ? "Live" : status === "polling" ? "Reconnecting (polling)" : "Connecting…";
  return (
    <span className={`live ${status}`} role="status" aria-live="polite" data-testid="live-status">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p>
        <strong>{title}</strong>
      </p>
      {children}
    </div>
  );
}

const STATUS_CLASS: Record<string, string> = {
  succeeded: "ok", synced: "ok", unchanged: "ok", idle: "muted", waiting: "muted",
  running: "info", syncing: "info", listing: "info", queued: "muted", retrying: "warn", "backing-off": "warn",
  failed: "bad", cancelled: "muted", success: "ok", denied: "warn", disabled: "warn", revoked: "muted", "not mirrored": "muted", paused: "warn", filtered: "muted", unsigned: "warn",
  up: "ok", down: "bad", unknown: "muted",
};

export function Pill({ value }: { value: string }) {
  return <span className={`pill ${STATUS_CLASS[value] ?? ""}`}>{value}</span>;
}

export function FieldError({ id, msg }: { id: string; msg: string | undefined }) {
  return (
    <span id={id} className="field-error" role={msg ? "alert" : undefined}>
      {msg ?? ""}
    </span>
  );
}

/** A labelled input with its inline error (from the API's field issues) under it. */
export function Field({ label, error, ...input }: { label: ReactNode; error: string | undefined; name: string } & InputHTMLAttributes<HTMLInputElement>) {
  const errId = `${useId()}-err`;
  return (
    <label>
      {label}
      <input {...input} aria-describedby={errId} aria-invalid={error ? true : undefined} />
      <FieldError id={errId} msg={error} />
    </label>
  );
}
