"use client";
/**
 * A form that sends one API call: pending feedback while it runs, then the success text, or the
 * API's message with its field issues for inline display. On success the issues clear and, with
 * `reset`, the form's fields too.
 */
import { useState, type FormEvent } from "react";
import type { Feedback } from "../_components/ui";
import { errorMessage, issuesByField } from "./api";

export function useApiForm(pending: string, opts: { reset?: boolean } = {}) {
  const [fb, setFb] = useState<Feedback>(null);
  const [issues, setIssues] = useState<Record<string, string>>({});
  const onSubmit = (run: (data: FormData) => Promise<string>) => async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    setFb({ kind: "pending", text: pending });
    try {
      const done = await run(new FormData(form));
      setIssues({});
      setFb({ kind: "ok", text: done });
      if (opts.reset) form.reset();
    } catch (err) {
      setIssues(issuesByField(err));
      setFb({ kind: "error", text: errorMessage(err) });
    }
  };
  return { fb, setFb, issues, onSubmit };
}
