import { describe, expect, test } from 'vitest';
import { parseEventCsv, parseUserItemLines } from '../../src/model/interaction-log.js';
import { errorCodeOf } from '../../src/errors.js';

const codeAndMessage = (f: () => unknown): string => {
  try {
    f();
  } catch (error) {
    return `${errorCodeOf(error)}: ${(error as Error).message}`;
  }
  return 'no error';
};

describe('interaction logs', () => {
  test('reads "user item" lines in order, per user', () => {
    const log = parseUserItemLines('1 10\n2 11\n1 12\n\n# comment\n');
    expect(log.lines).toBe(3);
    expect(log.itemIds).toEqual(['10', '11', '12']);
    expect(log.histories.get('1')?.map((s) => s.itemId)).toEqual(['10', '12']);
    expect(log.histories.get('1')?.[0]?.type).toBe('purchase');
  });

  test('names the malformed line', () => {
    expect(codeAndMessage(() => parseUserItemLines('1 10\n1\n'))).toMatch(/^invalid_argument: line 2:/);
  });

  test('reads an event CSV, maps behaviours to event types and sorts by time', () => {
    const log = parseEventCsv('user,item,category,behavior,timestamp\n1,20,7,buy,300\n1,21,7,pv,100\n2,20,7,cart,50\n');
    expect(log.histories.get('1')?.map((s) => [s.itemId, s.type])).toEqual([
      ['21', 'view_item'],
      ['20', 'purchase'],
    ]);
    expect(log.histories.get('2')?.[0]?.type).toBe('add_to_cart');
    expect(log.categories.get('20')).toBe('7');
  });

  test('rejects unknown behaviours and bad timestamps with the line number', () => {
    expect(codeAndMessage(() => parseEventCsv('1,20,7,zz,1\n'))).toMatch(/line 1: unknown behavior "zz"/);
    expect(codeAndMessage(() => parseEventCsv('1,20,7,pv,1\n1,20,7,pv,soon\n'))).toMatch(/line 2: timestamp/);
    expect(codeAndMessage(() => parseEventCsv('1,20,pv,1\n'))).toMatch(/line 1: expected 5 columns/);
  });
});
