/**
 * Readers for historical interaction logs (for the training CLI and the benchmarks): `user item`
 * lines (the SASRec datasets) and event CSVs `user,item,category,behavior,timestamp` (Taobao's
 * UserBehavior). Pure string parsing: no Node APIs, so the worker could use it too.
 */
import type { EventType } from '../tracker/event-types.js';
import type { HistoryStep } from './contract.js';
import { EVENT_TYPES } from '../tracker/event-types.js';
import { HearthError } from '../errors.js';

export interface InteractionLog {
  /** Each user's steps, oldest first, in order of first appearance of the user. */
  histories: Map<string, HistoryStep[]>;
  /** Item ids in order of first appearance. */
  itemIds: string[];
  /** Categories seen in the log (CSV only). */
  categories: Map<string, string>;
  lines: number;
}

/** Taobao behaviours → Hearth event types. Hearth's own type names are accepted as they are. */
const BEHAVIORS: Record<string, EventType> = { pv: 'view_item', cart: 'add_to_cart', fav: 'add_to_wishlist', buy: 'purchase' };
const KNOWN_TYPES = new Set<string>(EVENT_TYPES);

function newLog(): InteractionLog {
  return { histories: new Map(), itemIds: [], categories: new Map(), lines: 0 };
}

function push(log: InteractionLog, seen: Set<string>, user: string, step: HistoryStep): void {
  let history = log.histories.get(user);
  if (!history) {
    history = [];
    log.histories.set(user, history);
  }
  history.push(step);
  if (!seen.has(step.itemId)) {
    seen.add(step.itemId);
    log.itemIds.push(step.itemId);
  }
}

/**
 * Parses `user item` lines (whitespace-separated, chronological per user). Blank lines and lines
 * starting with `#` are skipped; anything else malformed throws 'invalid_argument' with its line number.
 *
 * @example
 * ```ts
 * const log = parseUserItemLines('1 10\n1 11\n2 10\n', 'purchase');
 * ```
 */
export function parseUserItemLines(text: string, type: EventType = 'purchase'): InteractionLog {
  const log = newLog();
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    if (parts.length < 2 || parts.length > 3) {
      throw new HearthError('invalid_argument', `line ${index + 1}: expected "user item", got "${line.slice(0, 80)}"`);
    }
    const [user, item, time] = parts as [string, string, string | undefined];
    const t = time === undefined ? log.lines : Number(time);
    if (!Number.isFinite(t)) throw new HearthError('invalid_argument', `line ${index + 1}: the third column must be a timestamp, got "${time}"`);
    push(log, seen, user, { itemId: item, type, time: t });
    log.lines++;
  });
  return log;
}

/**
 * Parses an event CSV `user,item,category,behavior,timestamp` (a header line is allowed). Behaviour
 * is `pv`, `cart`, `fav`, `buy` or a Hearth event type. Each user's events are sorted by time.
 *
 * @example
 * ```ts
 * const log = parseEventCsv('1,2268318,2520377,pv,1511544070\n');
 * ```
 */
export function parseEventCsv(text: string): InteractionLog {
  const log = newLog();
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(',').map((p) => p.trim());
    if (index === 0 && parts[0]?.toLowerCase() === 'user') return;
    if (parts.length !== 5) throw new HearthError('invalid_argument', `line ${index + 1}: expected 5 columns "user,item,category,behavior,timestamp", got ${parts.length}`);
    const [user, item, category, behavior, timestamp] = parts as [string, string, string, string, string];
    if (user === '' || item === '') throw new HearthError('invalid_argument', `line ${index + 1}: empty user or item`);
    const type = BEHAVIORS[behavior] ?? (KNOWN_TYPES.has(behavior) ? (behavior as EventType) : undefined);
    if (!type) throw new HearthError('invalid_argument', `line ${index + 1}: unknown behavior "${behavior}"; expected one of: pv, cart, fav, buy, ${EVENT_TYPES.join(', ')}`);
    const time = Number(timestamp);
    if (!Number.isFinite(time)) throw new HearthError('invalid_argument', `line ${index + 1}: timestamp "${timestamp}" is not a number`);
    if (category !== '') log.categories.set(item, category);
    push(log, seen, user, { itemId: item, type, time });
    log.lines++;
  });
  // Stable sort: events with equal timestamps keep their file order.
  for (const history of log.histories.values()) history.sort((a, b) => a.time - b.time);
  return log;
}
