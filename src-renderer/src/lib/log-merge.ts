import type { DeliveryView } from '@contract/views';

/**
 * The log after a batch: rows already listed take their new state in place; the others
 * go where their id puts them, newest first. A late update of a row that had scrolled
 * out of the list (a backlog drained long after its rows were shown) therefore lands
 * among its contemporaries, or nowhere when it is older than everything kept — never on
 * top of newer rows. `current` is newest first by id, as the log always is.
 */
export function mergeNewestFirst(current: readonly DeliveryView[], batch: readonly DeliveryView[], capacity: number): DeliveryView[] {
  const byId = new Map(batch.map((d) => [d.id, d]));
  const updated = current.map((d) => {
    const next = byId.get(d.id);
    if (!next) return d;
    byId.delete(d.id);
    return next;
  });
  if (byId.size === 0) return updated.length > capacity ? updated.slice(0, capacity) : updated;
  const fresh = [...byId.values()].sort((a, b) => b.id - a.id);
  const merged: DeliveryView[] = [];
  let i = 0;
  let j = 0;
  while (merged.length < capacity && (i < fresh.length || j < updated.length)) {
    const a = fresh[i];
    const b = updated[j];
    if (b === undefined || (a !== undefined && a.id > b.id)) {
      merged.push(a as DeliveryView);
      i++;
    } else {
      merged.push(b);
      j++;
    }
  }
  return merged;
}
