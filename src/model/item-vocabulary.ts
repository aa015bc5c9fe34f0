/**
 * The item vocabulary: item id → row of the embedding table (row 0 is padding), and each row's
 * hashed attribute buckets (category, brand, price band), so that an item the model never trained
 * on still has a vector made of its attributes.
 */
import type { ItemAttributes } from './contract.js';
import { typesWhere, type EventType } from '../protocol/event-types.js';
import { HearthError } from '../protocol/errors.js';
import { hashString } from './random.js';

/** Attribute slots per item: category, brand, price band. */
export const ATTRIBUTE_SLOTS = 3;

export { EVENT_TYPE_ROWS, eventTypeRow } from '../protocol/event-types.js';

/**
 * The event types whose item is a prediction target: interactions that show interest in the item
 * (the table's `target` column). Impressions, removals, page views, searches and dwell are context
 * in the input but never targets.
 */
export const TARGET_EVENT_TYPES: ReadonlySet<EventType> = typesWhere('target');

/** The hashed bucket of an attribute value in `[1, buckets)`; bucket 0 means "no value". */
export function attributeBucket(kind: string, value: string | number | undefined, buckets: number): number {
  if (value === undefined || value === null || value === '' || buckets < 2) return 0;
  let key: string;
  if (kind === 'price') {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return 0;
    // Price bands on a log scale: 0–1, 1–3, 3–7, 7–15, … (a 10 % price change rarely changes band).
    key = `price:${Math.floor(Math.log2(1 + value))}`;
  } else {
    key = `${kind}:${String(value).toLowerCase()}`;
  }
  return 1 + (hashString(key) % (buckets - 1));
}

export class ItemVocabulary {
  readonly itemIds: readonly string[];
  readonly items: readonly ItemAttributes[];
  private readonly rows: Map<string, number>;
  /** `ATTRIBUTE_SLOTS` bucket ids per row (row 0, padding, has none). */
  readonly attributeRows: Int32Array;

  constructor(items: readonly ItemAttributes[], attributeBuckets: number) {
    if (!Array.isArray(items) || items.length === 0) throw new HearthError('invalid_argument', 'the model needs at least one item');
    this.rows = new Map();
    const copies: ItemAttributes[] = [];
    for (const item of items) {
      if (!item || typeof item.id !== 'string' || item.id === '') throw new HearthError('invalid_argument', `item ${copies.length} has no string id`);
      if (this.rows.has(item.id)) throw new HearthError('invalid_argument', `item "${item.id}" appears twice`);
      this.rows.set(item.id, copies.length + 1);
      const copy: ItemAttributes = { id: item.id };
      if (item.category !== undefined) copy.category = item.category;
      if (item.brand !== undefined) copy.brand = item.brand;
      if (item.price !== undefined) copy.price = item.price;
      if (typeof item.popularity === 'number' && Number.isFinite(item.popularity) && item.popularity > 0) copy.popularity = item.popularity;
      copies.push(copy);
    }
    this.items = copies;
    this.itemIds = copies.map((i) => i.id);
    this.attributeRows = new Int32Array((copies.length + 1) * ATTRIBUTE_SLOTS);
    copies.forEach((item, i) => {
      const base = (i + 1) * ATTRIBUTE_SLOTS;
      this.attributeRows[base] = attributeBucket('category', item.category, attributeBuckets);
      this.attributeRows[base + 1] = attributeBucket('brand', item.brand, attributeBuckets);
      this.attributeRows[base + 2] = attributeBucket('price', item.price, attributeBuckets);
    });
  }

  /** Rows in the embedding table, padding included. */
  get size(): number {
    return this.itemIds.length + 1;
  }

  /** The row of `itemId`, or 0 when the vocabulary does not know it. */
  row(itemId: string): number {
    return this.rows.get(itemId) ?? 0;
  }

  /** The attribute buckets of `rows`, one array per slot. */
  attributesOf(rows: Int32Array): Int32Array[] {
    return Array.from({ length: ATTRIBUTE_SLOTS }, (_, slot) => {
      const out = new Int32Array(rows.length);
      for (let i = 0; i < rows.length; i++) out[i] = this.attributeRows[(rows[i] as number) * ATTRIBUTE_SLOTS + slot] as number;
      return out;
    });
  }
}
