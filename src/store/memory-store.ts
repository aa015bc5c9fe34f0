/**
 * The in-memory `HearthStore`: used when IndexedDB is missing, blocked or broken (private modes,
 * storage disabled), and as the IndexedDB store's fallback when its database goes away. It keeps
 * the same contract for the page's life and forgets everything when the page closes.
 */
import { HearthError } from '../protocol/errors.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import type { StoredEvent } from '../protocol/event-types.js';
import { validateCatalog } from './catalog-validation.js';
import { checkpointProblem, compactCheckpoint, parameterCount } from './checkpoint-check.js';
import { assertValidQuery, compareEvents, matchesQuery, newest, toStoredRecord, uniqueByEventId } from './event-query.js';
import { assertValidRetention, retentionCutoff } from './retention.js';
import type { AppendResult, CatalogItem, EventQuery, ExportedData, HearthStore, ModelCheckpoint, RetentionPolicy } from './types.js';

export interface MemoryStoreOptions {
  /** Enforced on every append; omit for no count limit. */
  retention?: RetentionPolicy;
  /** Where a batch that cannot be stored is reported (default: silent). */
  logger?: Logger;
}

interface Lease {
  owner: string;
  expiresAt: number;
}

/**
 * Copies through structured clone, as IndexedDB would, so that callers mutating what they passed
 * in or got back cannot change what is stored.
 */
function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * A `HearthStore` kept in plain arrays and maps.
 *
 * @example
 * ```ts
 * const store = new MemoryStore({ retention: { maxEvents: 1000, maxAgeDays: 30 } });
 * await store.appendEvents([{ type: 'page_view', time: Date.now(), session: 's', items: [], itemIds: [] }]);
 * ```
 */
export class MemoryStore implements HearthStore {
  readonly persistent = false;
  /** Oldest first by (time, id); kept sorted so reads and retention are slices. */
  private events: StoredEvent[] = [];
  /** `eventId`s of the events held now: a replayed event is not stored twice. */
  private eventIds = new Set<string>();
  private nextId = 1;
  private catalog = new Map<string, CatalogItem>();
  private meta = new Map<string, unknown>();
  private checkpoints = new Map<string, ModelCheckpoint>();
  private readonly retention: RetentionPolicy | undefined;
  private readonly logger: Logger;

  constructor(options: MemoryStoreOptions = {}) {
    if (options.retention) assertValidRetention(options.retention);
    this.retention = options.retention;
    this.logger = options.logger ?? silentLogger;
  }

  async appendEvents(events: readonly StoredEvent[]): Promise<AppendResult> {
    // Clone the whole batch first: a value that cannot be cloned fails the batch before any write.
    let records: StoredEvent[];
    try {
      records = uniqueByEventId(events.map((event) => clone(toStoredRecord(event))));
    } catch (error) {
      // The tracker must never throw: drop the batch whole and say so once.
      this.logger.warnOnce('store-append-failed', 'Could not store a batch of events; it was dropped.', error);
      return { added: 0, duplicates: 0, dropped: events.length };
    }
    let added = 0;
    for (const record of records) {
      if (this.eventIds.has(record.eventId)) continue;
      record.id = this.nextId++;
      this.eventIds.add(record.eventId);
      this.insertSorted(record);
      added += 1;
    }
    if (this.retention && this.events.length > this.retention.maxEvents) {
      this.forgetIds(this.events.splice(0, this.events.length - this.retention.maxEvents));
    }
    return { added, duplicates: events.length - added, dropped: 0 };
  }

  private forgetIds(removed: readonly StoredEvent[]): void {
    for (const event of removed) this.eventIds.delete(event.eventId);
  }

  private insertSorted(record: StoredEvent): void {
    // Events nearly always arrive in time order: scan back from the end.
    let at = this.events.length;
    while (at > 0 && compareEvents(this.events[at - 1]!, record) > 0) at -= 1;
    this.events.splice(at, 0, record);
  }

  async readEvents(query: EventQuery = {}): Promise<StoredEvent[]> {
    assertValidQuery(query);
    const matching = this.events.filter((event) => matchesQuery(event, query));
    return newest(matching, query.limit).map(clone);
  }

  async countEvents(): Promise<number> {
    return this.events.length;
  }

  async replaceCatalog(items: readonly CatalogItem[]): Promise<void> {
    const valid = validateCatalog(items);
    this.catalog = new Map(valid.map((item) => [item.id, item]));
  }

  async getCatalog(): Promise<CatalogItem[]> {
    return [...this.catalog.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(clone);
  }

  async getCatalogItems(ids: readonly string[]): Promise<(CatalogItem | undefined)[]> {
    return ids.map((id) => {
      const item = this.catalog.get(id);
      return item && clone(item);
    });
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    return this.meta.has(key) ? (clone(this.meta.get(key)) as T) : undefined;
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    this.meta.set(key, clone(value));
  }

  async updateMeta<T>(key: string, update: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    const next = update(this.meta.has(key) ? (clone(this.meta.get(key)) as T) : undefined);
    if (next === undefined) this.meta.delete(key);
    else this.meta.set(key, clone(next));
    return next === undefined ? undefined : clone(next);
  }

  async putCheckpoint(checkpoint: ModelCheckpoint): Promise<void> {
    const problem = checkpointProblem(checkpoint);
    if (problem) throw new HearthError('invalid_checkpoint', `Cannot save checkpoint: ${problem}`);
    this.checkpoints.set(checkpoint.name, clone(compactCheckpoint(checkpoint)));
  }

  async getCheckpoint(name: string): Promise<ModelCheckpoint | undefined> {
    const checkpoint = this.checkpoints.get(name);
    return checkpoint && clone(checkpoint);
  }

  async deleteCheckpoint(name: string): Promise<void> {
    this.checkpoints.delete(name);
  }

  async enforceRetention(policy: RetentionPolicy, now: number = Date.now()): Promise<number> {
    assertValidRetention(policy);
    const before = this.events.length;
    const cutoff = retentionCutoff(policy, now);
    let firstKept = this.events.findIndex((event) => event.time >= cutoff);
    if (firstKept === -1) firstKept = this.events.length;
    firstKept = Math.max(firstKept, this.events.length - policy.maxEvents);
    this.forgetIds(this.events.splice(0, firstKept));
    return before - this.events.length;
  }

  async exportAll(): Promise<ExportedData> {
    return {
      exportedAt: Date.now(),
      events: this.events.map(clone),
      catalog: await this.getCatalog(),
      meta: Object.fromEntries([...this.meta].map(([key, value]) => [key, clone(value)])),
      checkpoints: [...this.checkpoints.values()].map((c) => ({
        name: c.name,
        formatVersion: c.formatVersion,
        savedAt: c.savedAt,
        parameters: parameterCount(c),
      })),
    };
  }

  async destroy(): Promise<void> {
    this.events = [];
    this.eventIds.clear();
    this.catalog.clear();
    this.meta.clear();
    this.checkpoints.clear();
  }

  close(): void {
    // Nothing to release; the data lives as long as this object.
  }

  async acquireLease(name: string, owner: string, ttlMs: number, now: number = Date.now()): Promise<boolean> {
    const key = `lease:${name}`;
    const held = this.meta.get(key) as Lease | undefined;
    if (held && held.owner !== owner && held.expiresAt > now) return false;
    this.meta.set(key, { owner, expiresAt: now + ttlMs } satisfies Lease);
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    const key = `lease:${name}`;
    if ((this.meta.get(key) as Lease | undefined)?.owner === owner) this.meta.delete(key);
  }
}
