/** How `hearth-train` holds out validation data from a shop's log. */
import type { HistoryStep } from '../model/contract.js';
import { TARGET_EVENT_TYPES } from '../model/item-vocabulary.js';
import type { RankingCase } from './evaluate.js';

/**
 * The validation split: each shopper's last interest event (a view, click, cart or purchase) is
 * held out, predicted from everything before it; shoppers with fewer than three such events train
 * only. In a purchase log ("user item" lines) the shopper's earlier items are left out of the
 * ranking (people rarely buy the same thing twice); in an event log they stay (views repeat).
 */
export function validationSplit(histories: Iterable<HistoryStep[]>, excludeHistory: boolean): { train: HistoryStep[][]; validation: RankingCase[] } {
  const train: HistoryStep[][] = [];
  const validation: RankingCase[] = [];
  for (const history of histories) {
    let last = history.length - 1;
    while (last >= 0 && !TARGET_EVENT_TYPES.has((history[last] as HistoryStep).type)) last--;
    const targets = history.filter((s) => TARGET_EVENT_TYPES.has(s.type)).length;
    if (last < 1 || targets < 3) {
      train.push(history);
      continue;
    }
    const before = history.slice(0, last);
    train.push(before);
    validation.push({ history: before, target: (history[last] as HistoryStep).itemId, excludeHistory });
  }
  return { train, validation };
}
