import { describe, expect, test } from 'vitest';
import { Readable } from 'node:stream';
import { itemPopularity, readEventCsv, readUserItemLines } from '../../src/train/interaction-log.js';
import { errorCodeOf } from '../../src/protocol/errors.js';

const codeAndMessage = async (f: () => Promise<unknown>): Promise<string> => {
  try {
    await f();
  } catch (error) {
    return `${errorCodeOf(error)}: ${(error as Error).message}`;
  }
  return 'no error';
};

describe('interaction logs', () => {
  test('reads "user item" lines in order, per user', async () => {
    const log = await readUserItemLines('1 10\n2 11\n1 12\n\n# comment\n');
    expect(log.lines).toBe(3);
    expect(log.itemIds).toEqual(['10', '11', '12']);
    expect(log.histories.get('1')?.map((s) => s.itemId)).toEqual(['10', '12']);
    expect(log.histories.get('1')?.[0]?.type).toBe('purchase');
  });

  test('names the malformed line', async () => {
    expect(await codeAndMessage(() => readUserItemLines('1 10\n1\n'))).toMatch(/^invalid_argument: line 2:/);
  });

  test('reads an event CSV, maps behaviours to event types and sorts by time', async () => {
    const log = await readEventCsv('user,item,category,behavior,timestamp\n1,20,7,buy,300\n1,21,7,pv,100\n2,20,7,cart,50\n');
    expect(log.histories.get('1')?.map((s) => [s.itemId, s.type])).toEqual([
      ['21', 'view_item'],
      ['20', 'purchase'],
    ]);
    expect(log.histories.get('2')?.[0]?.type).toBe('add_to_cart');
    expect(log.categories.get('20')).toBe('7');
  });

  test('reads quoted fields with commas, CRLF line ends, and a file streamed in small chunks', async () => {
    const text = 'user,item,category,behavior,timestamp\r\n"u,1","sku ""A""","Shoes, running",pv,100\r\nu2,b,,buy,200\r\n';
    // Chunks of 7 bytes split records and quoted fields across chunk boundaries.
    const bytes = new TextEncoder().encode(text);
    const stream = Readable.from(Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7)));
    const log = await readEventCsv(stream);
    expect(log.histories.get('u,1')?.[0]).toMatchObject({ itemId: 'sku "A"', type: 'view_item' });
    expect(log.categories.get('sku "A"')).toBe('Shoes, running');
    expect(log.histories.get('u2')?.[0]?.type).toBe('purchase');
    const lines = await readUserItemLines(Readable.from(['1 1', '0\n2 1', '1\n']));
    expect(lines.histories.get('1')?.[0]?.itemId).toBe('10');
    expect(lines.histories.get('2')?.[0]?.itemId).toBe('11');
  });

  test('rejects unknown behaviours and bad timestamps with the line number', async () => {
    expect(await codeAndMessage(() => readEventCsv('1,20,7,zz,1\n'))).toMatch(/line 1: unknown behavior "zz"/);
    expect(await codeAndMessage(() => readEventCsv('1,20,7,pv,1\n1,20,7,pv,soon\n'))).toMatch(/line 2: timestamp/);
    expect(await codeAndMessage(() => readEventCsv('1,20,pv,1\n'))).toMatch(/line 1: expected 5 columns/);
  });

  test('item popularity: shares of interest weighted by kind, halved per week before the log ends, summing to 1', async () => {
    const week = 7 * 24 * 3600;
    // Seconds, as in Taobao's log. 'b' was viewed twice a week ago; 'a' viewed once now; 'c' bought now.
    const log = await readEventCsv(`1,b,x,pv,${1000}\n2,b,x,pv,${1000}\n3,a,x,pv,${1000 + week}\n3,c,x,buy,${1000 + week}\n`);
    const shares = itemPopularity(log);
    // Weights: b = 2 × ½ = 1, a = 1, c = 3; total 5.
    expect(Object.fromEntries(shares)).toEqual({ a: 0.2, b: 0.2, c: 0.6 });
    // Impressions and searches say nothing about an item's appeal.
    expect(itemPopularity(await readEventCsv('1,a,x,view_item_list,1\n1,b,x,pv,2\n')).has('a')).toBe(false);
    // Without timestamps, no decay: line order is not time.
    const untimed = itemPopularity(await readUserItemLines('1 a\n1 b\n2 b\n3 b\n'));
    expect(untimed.get('b')).toBe(0.75);
    expect([...untimed.values()].reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
  });
});
