// The SQL of a payout's story (GET /payout/:id/story) that is not another store's already: the
// topic messages published for the payout and for its OEBS payments.
import type { Db } from '../db/connect.ts';

export interface StoryMessageRow {
  id: string;
  topic: string;
  key: string;
  msg_id: string;
  /** The body exactly as it was published (text: amounts stay the literals on the wire). */
  body: string;
  created_at: Date;
}

/**
 * Messages keyed by the payout (new-payout, notices, oebs-errors; on the Postgres backend also
 * ARD's answers) and by its payments (OEBS's answers are keyed `<payment id>/<status>`), oldest
 * first, at most `limit`. Index: topic_message_key (migration 012).
 */
export function payoutMessages(db: Db, payoutId: string, paymentIds: readonly string[], limit: number) {
  // `<payment>/…` is the range [`<payment>/`, `<payment>0`) ('0' follows '/'); ~>=~ and ~<~ are
  // the operators text_pattern_ops indexes, and unlike LIKE they keep the index with a parameter.
  const ranges = paymentIds.map((p) => db`
    union all
    select id, topic, key, msg_id, payload, created_at from topic_message where key ~>=~ ${`${p}/`} and key ~<~ ${`${p}0`}`);
  return db<StoryMessageRow[]>`
    select id::text, topic, key, msg_id, payload::text as body, created_at from (
      select id, topic, key, msg_id, payload, created_at from topic_message where key = ${payoutId}
      ${ranges.length ? ranges : db``}
    ) m
    order by m.id
    limit ${limit}`;
}
