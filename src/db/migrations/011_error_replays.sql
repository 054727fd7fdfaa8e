-- oebs-errors replays (src/oebs-gate/replay.ts): the source messages a replay applied (or found
-- with nothing left to do). A later replay skips them, so replaying twice never applies a message
-- twice, nor repeats what a redelivery would record again (an OEBS status of a paid payout); the
-- reports in oebs-errors stay as they are, and what is not here still fails.
create table t_oebs_error_replay (
  source_topic  text not null,
  source_msg_id text not null,
  outcome       text not null check (outcome in ('applied', 'unchanged')),
  replayed_at   timestamptz not null default now(),
  primary key (source_topic, source_msg_id)
);
