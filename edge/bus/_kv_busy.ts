/**
 * Retrying a Deno KV operation that a SQLite file refuses while another
 * handle or process writes ("database is locked").
 *
 * @module
 */

import { KV_BUSY_ATTEMPTS } from "./defaults.ts";

function isBusy(error: unknown): boolean {
  return error instanceof Error && /database is (locked|busy)/i.test(error.message);
}

/** Runs `attempt` again while it fails with a busy database. */
export async function retryBusy<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1;; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isBusy(error) || tries >= KV_BUSY_ATTEMPTS) throw error;
      const ms = Math.random() * Math.min(2 ** tries, 50);
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }
}
