// All SQL of t_oebs_error_replay: the oebs-errors source messages a replay settled (migration 011).
import type { Db } from '../db/connect.ts';

export interface SourceMessage {
  topic: string;
  msgId: string;
}

/** Which of these source messages an earlier replay settled (as `topic#msgId`). */
export async function settledByReplay(db: Db, ms: readonly SourceMessage[]): Promise<Set<string>> {
  if (!ms.length) return new Set();
  const rows = await db<{ k: string }[]>`
    select r.source_topic || '#' || r.source_msg_id as k
    from t_oebs_error_replay r join unnest(${ms.map((m) => m.topic)}::text[], ${ms.map((m) => m.msgId)}::text[]) as u(topic, msg_id)
      on r.source_topic = u.topic and r.source_msg_id = u.msg_id`;
  return new Set(rows.map((r) => r.k));
}

/** After the message's transaction committed; a crash before it only means the next replay applies it again (idempotently). */
export async function recordReplayed(db: Db, m: SourceMessage, outcome: 'applied' | 'unchanged'): Promise<void> {
  await db`
    insert into t_oebs_error_replay (source_topic, source_msg_id, outcome) values (${m.topic}, ${m.msgId}, ${outcome})
    on conflict do nothing`;
}
