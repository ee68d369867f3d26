"use client";
import { api } from "../_lib/api";
import { FormStatus } from "../_components/ui";
import { useApiForm } from "../_lib/form";

export function LoginForm({ next }: { next: string }) {
  const { fb, onSubmit } = useApiForm("Signing in…");
  return (
    <form
      className="form"
      onSubmit={onSubmit(async (f) => {
        await api("POST", "/session", { username: String(f.get("username")), password: String(f.get("password")) });
        window.location.assign(next);
        return "Signed in";
      })}
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
