/**
 * A value read from the database and kept in memory until an event says it changed: the shape both
 * the generator snapshot (control.ts) and the mirror's registry list share.
 *
 * `invalidate()` starts a new generation. A read after it never gets a value loaded before it:
 * each load remembers the generation it started in and is kept only while that generation is
 * current, and readers of one generation share one load.
 */
export class GenerationCache<T> {
  #generation = 0;
  #value: { value: T; generation: number; at: number } | null = null;
  #loading: { generation: number; promise: Promise<T> } | null = null;

  invalidate(): void {
    this.#generation++;
  }

  /** The current generation's value and its age in ms, or null when there is none. */
  current(): { value: T; ageMs: number } | null {
    const v = this.#value;
    if (v === null || v.generation !== this.#generation) return null;
    return { value: v.value, ageMs: Date.now() - v.at };
  }

  /** Loads anew, or joins the load already running for the current generation. */
  load(loader: () => Promise<T>): Promise<T> {
    const generation = this.#generation;
    if (this.#loading?.generation === generation) return this.#loading.promise;
    const at = Date.now();
    const promise = loader().then((value) => {
      if (generation === this.#generation && (this.#value === null || this.#value.at <= at)) this.#value = { value, generation, at };
      return value;
    });
    const loading = { generation, promise };
    this.#loading = loading;
    const done = () => {
      if (this.#loading === loading) this.#loading = null;
    };
    promise.then(done, done);
    return promise;
  }
}
