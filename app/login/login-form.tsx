"use client";
import { useState } from "react";
import { api, errorMessage } from "../_lib/api";
import { FormStatus, type Feedback } from "../_components/ui";

export function LoginForm({ next }: { next: string }) {
  const [fb, setFb] = useState<Feedback>(null);
  return (
    <form
      className="form"
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        setFb({ kind: "pending", text: "Signing in…" });
        try {
          await api("POST", "/session", { username: String(f.get("username")), password: String(f.get("password")) });
          setFb({ kind: "ok", text: "Signed in" });
          window.location.assign(next);
        } catch (err) {
          setFb({ kind: "error", text: errorMessage(err) });
        }
      }}
    >
      <label>
        Username
        <input name="username" autoComplete="username" required autoFocus />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required />
      </label>
      <button type="submit" className="btn primary" disabled={fb?.kind === "pending"}>
        Sign in
      </button>
      <FormStatus fb={fb} />
    </form>
  );
}
