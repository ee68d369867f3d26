"use client";
/**
 * Pieces of the list pages' filter forms (tasks, repositories, audit): the registry choice and
 * the row of buttons, so each page only writes the fields that are its own.
 */
import type { ReactNode } from "react";

/** The filter form: its fields, read as FormData when submitted (the page does not reload). */
export function FilterForm({ label, onFilter, children }: { label: string; onFilter: (data: FormData) => void; children: ReactNode }) {
  return (
    <form
      className="filters"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        onFilter(new FormData(e.currentTarget));
      }}
    >
      {children}
    </form>
  );
}

/** A `registry` select: "all" (the empty value), then each registry's name. */
export function RegistrySelect({ registries, value }: { registries: string[]; value: string }) {
  return (
    <label>
      Registry
      <select name="registry" defaultValue={value}>
        <option value="">all</option>
        {registries.map((r) => (
          <option key={r}>{r}</option>
        ))}
      </select>
    </label>
  );
}

/** The form's submit button, then any other buttons (a reset). */
export function FilterButtons({ submit, children }: { submit: string; children?: ReactNode }) {
  return (
    <div className="filter-buttons">
      <button type="submit" className="btn primary">
        {submit}
      </button>
      {children}
    </div>
  );
}
