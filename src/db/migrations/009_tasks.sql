-- The tasks component (src/tasks): what it found, where it stopped, and what it needs to look at.

-- Disagreements found by the checks. A row is open until a later run finds agreement again
-- (cleared_at set); `seen` counts the runs that found it, and only a disagreement seen by two
-- runs in a row is reported: a payout between its ledger write and its status commit disagrees
-- for a moment, and must not page anyone. At most one open row per (kind, subject).
create table t_violation (
  id          bigint generated always as identity primary key,
  kind        text not null,
  -- what it is about, as a stable key: an account (`taxi/42/7/124/RUB`), a payment, a check
  subject     text not null,
  namespace   text,
  client_id   bigint,
  contract_id bigint,
  service_id  bigint,
  currency    text,
  payout_ids  bigint[] not null default '{}',
  expected    numeric(24, 6),
  actual      numeric(24, 6),
  detail      text,
  seen        int not null default 1,
  first_seen  timestamptz not null default now(),
  last_seen   timestamptz not null default now(),
  cleared_at  timestamptz
);
create unique index t_violation_open on t_violation (kind, subject) where cleared_at is null;

-- One row per periodic task: when it last ran, and the point its next run looks back to.
create table t_task_run (
  task        text primary key,
  watermark   timestamptz,
  last_run_at timestamptz,
  last_ok_at  timestamptz,
  last_error  text
);

-- OEBS payments as the receiver applied them (written in the receiver's transaction): the
-- amount OEBS paid and the batches it covered, so a payment can be reconciled against its
-- payouts and the ledger later. reconciled/returned: whether RECONCILED/RETURNED was applied.
create table t_oebs_payment (
  payment_id  text    not null,
  dry_run     boolean not null,
  namespaces  text[]  not null,
  amount      numeric(24, 2) not null,
  batch_ids   text[]  not null,
  reconciled  boolean not null default false,
  returned    boolean not null default false,
  first_seen  timestamptz not null default now(),
  last_seen   timestamptz not null default now(),
  primary key (payment_id, dry_run)
);
create index t_oebs_payment_seen on t_oebs_payment (last_seen);

-- Integrity reads the accounts touched since its last run; the stuck gauges count and age the
-- payouts waiting in each status; both are index range scans.
create index t_payout_updated on t_payout (updated_at);
create index t_payout_waiting on t_payout (status, updated_at) where status in ('new', 'pending', 'confirmed');
create index t_payout_payment on t_payout (oebs_payment_id) where oebs_payment_id is not null;
-- Housekeeping deletes the oldest rows first, in small batches.
create index topic_message_created on topic_message (created_at);
create index t_request_finished on t_request (updated_at) where status <> 'new';
