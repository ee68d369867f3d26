"use client";
/**
 * A cursor-paged list read from the REST API: the current items, the next cursor and the load
 * feedback. `load(filters)` replaces the items (new filters), `load(filters, cursor)` appends the
 * next page.
 */
import { useCallback, useRef, useState } from "react";
import type { Feedback } from "../_components/ui";
import { api, errorMessage } from "./api";
import type { Page } from "./types";

export function usePaged<T, F>(url: (filters: F, cursor?: string | null) => string, initial: Page<T> | null, loading: string) {
  const [items, setItems] = useState<T[]>(initial?.items ?? []);
  const [cursor, setCursor] = useState<string | null>(initial?.nextCursor ?? null);
  const [fb, setFb] = useState<Feedback>(null);
  const urlRef = useRef(url);
  urlRef.current = url;
  const load = useCallback(
    async (filters: F, next?: string | null) => {
      setFb({ kind: "pending", text: loading });
      try {
        const page = await api<Page<T>>("GET", urlRef.current(filters, next));
        setItems((l) => (next ? [...l, ...page.items] : page.items));
        setCursor(page.nextCursor);
        setFb(null);
      } catch (err) {
        setFb({ kind: "error", text: errorMessage(err) });
      }
    },
    [loading],
  );
  return { items, setItems, cursor, fb, load };
}
