"use client";
import { api, ApiError } from "../_lib/api";
import { Field, FormStatus } from "../_components/ui";
import { useApiForm } from "../_lib/form";

export function SetupForm() {
  const { fb, setFb, issues, onSubmit } = useApiForm("Creating the administrator…");
  return (
    <form
      className="form"
      onSubmit={onSubmit(async (f) => {
        const username = String(f.get("username"));
        const password = String(f.get("password"));
        if (password !== String(f.get("password2"))) {
          throw new ApiError("The passwords differ", 0, "BAD_USER_INPUT", [{ path: "password2", message: "the passwords differ" }]);
        }
        await api("POST", "/setup", { username, password, setupToken: String(f.get("setupToken")).trim() });
        setFb({ kind: "pending", text: "Created. Signing in…" });
        await api("POST", "/session", { username, password });
        window.location.assign("/");
        return "Signed in";
      })}
    >
      <Field label="Setup token" name="setupToken" required autoComplete="off" error={issues.setupToken} />
      <Field label="Admin username" name="username" required autoComplete="username" error={issues.username} />
      <Field label="Password" name="password" type="password" required autoComplete="new-password" error={issues.password} />
      <Field label="Password again" name="password2" type="password" required autoComplete="new-password" error={issues.password2} />
      <button type="submit" className="btn primary" disabled={fb?.kind === "pending"}>
        Create administrator
      </button>
      <FormStatus fb={fb} />
    </form>
  );
}

