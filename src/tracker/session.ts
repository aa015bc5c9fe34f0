/**
 * Sessions: a random, local-only id that changes after `timeoutMs` without an event. The state
 * lives in the store's meta (written with each flush) so that a reload continues the session.
 */
import { randomId } from '../shared/random-id.js';

/** Meta key of the session state. */
export const SESSION_META_KEY = 'tracker.session';
export const DEFAULT_SESSION_TIMEOUT_MINUTES = 30;

export interface SessionState {
  id: string;
  /** Time of the last event of the session (ms since the epoch). */
  lastEventAt: number;
}

/** True when `value` looks like a stored session state. */
export function isSessionState(value: unknown): value is SessionState {
  const v = value as Partial<SessionState> | undefined;
  return typeof v?.id === 'string' && v.id !== '' && typeof v.lastEventAt === 'number' && Number.isFinite(v.lastEventAt);
}

/**
 * Assigns events to sessions. `sessionFor(time)` is called for events in the order they were
 * tracked; an event older than the session's last one (a back-dated `timestamp`) stays in it.
 *
 * @example
 * ```ts
 * const sessions = new SessionClock(30 * 60_000, await store.getMeta('tracker.session'));
 * event.session = sessions.sessionFor(Date.now());
 * ```
 */
export class SessionClock {
  private state: SessionState | undefined;

  constructor(
    private readonly timeoutMs: number,
    restored?: unknown,
    private readonly newId: () => string = randomId,
  ) {
    if (isSessionState(restored)) this.state = { id: restored.id, lastEventAt: restored.lastEventAt };
  }

  sessionFor(time: number): string {
    const state = this.state;
    if (state && time - state.lastEventAt <= this.timeoutMs) {
      if (time > state.lastEventAt) state.lastEventAt = time;
      return state.id;
    }
    this.state = { id: this.newId(), lastEventAt: time };
    return this.state.id;
  }

  /** The state to persist, or undefined before the first event. */
  snapshot(): SessionState | undefined {
    return this.state && { ...this.state };
  }

  /** Forgets the session (after `forget()`). */
  clear(): void {
    this.state = undefined;
  }
}
