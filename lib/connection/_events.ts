// Events to any number of watchers, each from when it started watching.

/** A feed of events: `watch()` gives an iterator of everything emitted after the call. */
export class EventFeed<T> {
  readonly #watchers = new Set<{ queue: T[]; wake: (() => void) | undefined }>();
  #ended = false;

  /** Hands `event` to every watcher. */
  emit(event: T): void {
    for (const watcher of this.#watchers) {
      watcher.queue.push(event);
      watcher.wake?.();
    }
  }

  /** Ends every iterator once it has yielded what was emitted before. */
  end(): void {
    this.#ended = true;
    for (const watcher of this.#watchers) watcher.wake?.();
  }

  /** The events from now on, until {@linkcode end}. */
  watch(): AsyncIterableIterator<T> {
    const watcher = { queue: [] as T[], wake: undefined as (() => void) | undefined };
    this.#watchers.add(watcher);
    const iterator: AsyncIterableIterator<T> = {
      next: async (): Promise<IteratorResult<T>> => {
        while (watcher.queue.length === 0) {
          if (this.#ended) {
            this.#watchers.delete(watcher);
            return { done: true, value: undefined };
          }
          await new Promise<void>((resolve) => watcher.wake = resolve);
          watcher.wake = undefined;
        }
        return { done: false, value: watcher.queue.shift()! };
      },
      return: (): Promise<IteratorResult<T>> => {
        this.#watchers.delete(watcher);
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}
