/**
 * Where persisted state lives. `write` must be atomic: after a crash, `read` returns either the old
 * or the new text, never a mix. `read` returns undefined when nothing was written yet.
 */
export interface Store {
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
}

/** An in-memory Store (tests, embedders that persist elsewhere). */
export class MemoryStore implements Store {
  writes = 0;
  constructor(public text: string | undefined = undefined) {}
  async read(): Promise<string | undefined> {
    return this.text;
  }
  async write(text: string): Promise<void> {
    this.writes++;
    this.text = text;
  }
}
