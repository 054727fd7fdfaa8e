// Page cursors of the list endpoints: opaque to callers (base64url of the last id seen and the
// order it was read in), so the paging scheme can change without breaking them. A cursor is only
// good for the order it came from; anything else is a 400, never a silently wrong page.
import { HttpError } from './auth.ts';

export type Order = 'asc' | 'desc';

export function encodeCursor(order: Order, lastId: string): string {
  return Buffer.from(JSON.stringify({ o: order, id: lastId })).toString('base64url');
}

export function decodeCursor(cursor: string, order: Order): string {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  const c = v as { o?: unknown; id?: unknown } | undefined;
  if (!c || typeof c.id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(c.id) || (c.o !== 'asc' && c.o !== 'desc')) {
    throw new HttpError(400, 'querystring.cursor: not a cursor this api gave (pass next_cursor of the previous page as it is)');
  }
  if (c.o !== order) throw new HttpError(400, `querystring.cursor: was made for order=${c.o}, not order=${order}`);
  return c.id;
}

/**
 * One page out of `rows` read with limit + 1 (the extra row only says there is more): the first
 * `limit` rows, and the cursor of the next page or null when this is the last.
 */
export function pageOf<T extends { id: string }>(rows: readonly T[], limit: number, order: Order): { rows: T[]; next: string | null } {
  const page = rows.slice(0, limit);
  return { rows: page, next: rows.length > limit ? encodeCursor(order, page[page.length - 1]!.id) : null };
}
