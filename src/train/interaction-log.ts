/**
 * Readers for historical interaction logs (the training CLI): `user item` lines (the SASRec
 * datasets) and event CSVs `user,item,category,behavior,timestamp` (Taobao's UserBehavior),
 * streamed, so a log larger than memory's comfort is read a chunk at a time. Node only.
 */
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import type { HistoryStep } from '../model/contract.js';
import { EVENT_TYPES, meaningOf, type EventType } from '../protocol/event-types.js';
import { HearthError } from '../protocol/errors.js';

export interface InteractionLog {
  /** Each user's steps, oldest first, in order of first appearance of the user. */
  histories: Map<string, HistoryStep[]>;
  /** Item ids in order of first appearance. */
  itemIds: string[];
  /** Categories seen in the log (CSV only). */
  categories: Map<string, string>;
  lines: number;
  /** False when the steps' times are line numbers (a `user item` file without a time column). */
  timed: boolean;
}

/** Taobao behaviours → Hearth event types. Hearth's own type names are accepted as they are. */
const BEHAVIORS: Record<string, EventType> = { pv: 'view_item', cart: 'add_to_cart', fav: 'add_to_wishlist', buy: 'purchase' };
const KNOWN_TYPES = new Set<string>(EVENT_TYPES);

function newLog(): InteractionLog {
  return { histories: new Map(), itemIds: [], categories: new Map(), lines: 0, timed: true };
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

/** Text as a stream of chunks: a file stream (`createReadStream`) or a string. */
export type TextSource = AsyncIterable<string | Uint8Array> | Iterable<string>;

function chunks(source: TextSource | string): AsyncIterable<string | Uint8Array> | Iterable<string> {
  return typeof source === 'string' ? [source] : source;
}

/**
 * Reads `user item [time]` lines (whitespace-separated, chronological per user) as they stream
 * in. Blank lines and lines starting with `#` are skipped; anything else malformed throws
 * 'invalid_argument' with its line number.
 *
 * @example
 * ```ts
 * const log = await readUserItemLines(createReadStream('games.txt', 'utf8'), 'purchase');
 * ```
 */
export async function readUserItemLines(source: TextSource | string, type: EventType = 'purchase'): Promise<InteractionLog> {
  const log = newLog();
  const seen = new Set<string>();
  let index = 0;
  for await (const raw of createInterface({ input: Readable.from(chunks(source)), crlfDelay: Infinity })) {
    index++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    if (parts.length < 2 || parts.length > 3) {
      throw new HearthError('invalid_argument', `line ${index}: expected "user item", got "${line.slice(0, 80)}"`);
    }
    const [user, item, time] = parts as [string, string, string | undefined];
    if (time === undefined) log.timed = false;
    const t = time === undefined ? log.lines : Number(time);
    if (!Number.isFinite(t)) throw new HearthError('invalid_argument', `line ${index}: the third column must be a timestamp, got "${time}"`);
    push(log, seen, user, { itemId: item, type, time: t });
    log.lines++;
  }
  return log;
}

/**
 * Reads an event CSV `user,item,category,behavior,timestamp` (RFC 4180: quoted fields may hold
 * commas and newlines; a header line is allowed) as it streams in. Behaviour is `pv`, `cart`,
 * `fav`, `buy` or a Hearth event type. Each user's events are sorted by time.
 *
 * @example
 * ```ts
 * const log = await readEventCsv(createReadStream('user_behavior.csv'));
 * ```
 */
export async function readEventCsv(source: TextSource | string): Promise<InteractionLog> {
  const log = newLog();
  const seen = new Set<string>();
  const parser = Readable.from(chunks(source)).pipe(parse({ trim: true, skip_empty_lines: true, comment: '#', relax_column_count: true, info: true }));
  let first = true;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const at = `line ${info.lines}`;
    if (first && record[0]?.toLowerCase() === 'user') {
      first = false;
      continue;
    }
    first = false;
    if (record.length !== 5) throw new HearthError('invalid_argument', `${at}: expected 5 columns "user,item,category,behavior,timestamp", got ${record.length}`);
    const [user, item, category, behavior, timestamp] = record as [string, string, string, string, string];
    if (user === '' || item === '') throw new HearthError('invalid_argument', `${at}: empty user or item`);
    const type = BEHAVIORS[behavior] ?? (KNOWN_TYPES.has(behavior) ? (behavior as EventType) : undefined);
    if (!type) throw new HearthError('invalid_argument', `${at}: unknown behavior "${behavior}"; expected one of: pv, cart, fav, buy, ${EVENT_TYPES.join(', ')}`);
    const time = Number(timestamp);
    if (timestamp === '' || !Number.isFinite(time)) throw new HearthError('invalid_argument', `${at}: timestamp "${timestamp}" is not a number`);
    if (category !== '') log.categories.set(item, category);
    push(log, seen, user, { itemId: item, type, time });
    log.lines++;
  }
  // Stable sort: events with equal timestamps keep their file order.
  for (const history of log.histories.values()) history.sort((a, b) => a.time - b.time);
  return log;
}

/** Half-life of an interaction's weight in `itemPopularity`: last week's activity counts most. */
const POPULARITY_HALF_LIFE_MS = 7 * 24 * 3600 * 1000;

/**
 * Each item's share of the shop's recent interest: interactions weighted by kind (carts and
 * purchases 3, views and clicks 1) and, when the log has timestamps, halved for every week before
 * the log's last event. Shares sum to 1 and are rounded to four significant digits (they travel
 * in `model.json`); items with no weight are left out.
 *
 * @example
 * ```ts
 * itemPopularity(await readEventCsv(text)).get('sku-1'); // 0.0123
 * ```
 */
export function itemPopularity(log: InteractionLog): Map<string, number> {
  let last = Number.NEGATIVE_INFINITY;
  for (const history of log.histories.values()) for (const step of history) if (step.time > last) last = step.time;
  // Seconds (Taobao, Unix time) or milliseconds: the same heuristic as the session split.
  const halfLife = last < 1e11 ? POPULARITY_HALF_LIFE_MS / 1000 : POPULARITY_HALF_LIFE_MS;
  const weights = new Map<string, number>();
  let total = 0;
  for (const history of log.histories.values()) {
    for (const step of history) {
      const kind = meaningOf(step.type)?.popularity ?? 0;
      if (kind === 0) continue;
      const weight = kind * (log.timed ? Math.pow(0.5, Math.max(0, last - step.time) / halfLife) : 1);
      weights.set(step.itemId, (weights.get(step.itemId) ?? 0) + weight);
      total += weight;
    }
  }
  const shares = new Map<string, number>();
  if (!(total > 0)) return shares;
  for (const [id, weight] of weights) {
    const share = Number((weight / total).toPrecision(4));
    if (share > 0) shares.set(id, share);
  }
  return shares;
}
