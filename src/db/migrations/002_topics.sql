-- Topics (src/topics). `topic_message` is the log of every message ever published, written in
-- the publisher's transaction (the outbox): a message exists exactly when the change that made
-- it committed. unique (topic, msg_id) makes a repeated publish a no-op, forever (not only for a
-- broker's duplicate window). Rows are kept as an audit trail; pruning is a later concern.
create table topic_message (
  id         bigint generated always as identity primary key,
  topic      text  not null,
  key        text  not null,
  msg_id     text  not null,
  payload    jsonb not null,
  created_at timestamptz not null default now(),
  unique (topic, msg_id)
);

-- Postgres backend: the groups subscribed to each topic. A publish fans out to these groups in
-- the same statement; a new group is backfilled from the log (see src/topics/store.ts for the
-- lock that makes "subscribe" and "publish" see each other).
create table topic_subscription (
  topic      text not null,
  grp        text not null,
  created_at timestamptz not null default now(),
  primary key (topic, grp)
);

-- Postgres backend: one row per (group, message) not yet acknowledged. Acknowledging deletes the
-- row, so this table holds only the backlog and stays small. topic/key are copied from the
-- message so the "earliest unacked of its key" test is a single index probe.
create table topic_delivery (
  grp          text   not null,
  message_id   bigint not null references topic_message (id) on delete cascade,
  topic        text   not null,
  key          text   not null,
  attempts     int    not null default 0,
  available_at timestamptz not null default now(),
  last_error   text,
  primary key (grp, message_id)
);
create index topic_delivery_key on topic_delivery (grp, topic, key, message_id);

-- NATS backend: messages committed but not yet acknowledged by JetStream. The relay deletes a
-- row only after the server's publish ack.
create table topic_outbox (
  message_id bigint primary key references topic_message (id) on delete cascade
);
