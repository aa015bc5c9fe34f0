import { describe, expect, it } from 'vitest';
import { SessionClock, isSessionState } from '../../src/tracker/session.js';
import { randomId } from '../../src/shared/random-id.js';

const MIN = 60_000;

describe('SessionClock', () => {
  it('keeps one session while events come less than 30 minutes apart', () => {
    let n = 0;
    const clock = new SessionClock(30 * MIN, undefined, () => `s${++n}`);
    expect(clock.sessionFor(0)).toBe('s1');
    expect(clock.sessionFor(29 * MIN)).toBe('s1');
    expect(clock.sessionFor(58 * MIN)).toBe('s1');
  });

  it('splits the session after 30 minutes of inactivity', () => {
    let n = 0;
    const clock = new SessionClock(30 * MIN, undefined, () => `s${++n}`);
    clock.sessionFor(0);
    expect(clock.sessionFor(30 * MIN + 1)).toBe('s2');
    expect(clock.snapshot()).toEqual({ id: 's2', lastEventAt: 30 * MIN + 1 });
  });

  it('continues a restored session (a reload) when it is recent, and starts a new one when it is stale', () => {
    const fresh = new SessionClock(30 * MIN, { id: 'old', lastEventAt: 1_000 }, () => 'new');
    expect(fresh.sessionFor(1_000 + 10 * MIN)).toBe('old');
    const stale = new SessionClock(30 * MIN, { id: 'old', lastEventAt: 1_000 }, () => 'new');
    expect(stale.sessionFor(1_000 + 31 * MIN)).toBe('new');
  });

  it('ignores a malformed stored state', () => {
    expect(isSessionState({ id: '', lastEventAt: 1 })).toBe(false);
    expect(new SessionClock(MIN, { id: 'x' }, () => 'y').sessionFor(5)).toBe('y');
  });

  it('makes random ids that differ', () => {
    expect(randomId()).not.toBe(randomId());
  });
});
