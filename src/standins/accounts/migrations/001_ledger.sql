-- The stand-in accounts system: a small double-entry ledger in its own schema. It shares the
-- database with payout but no table: payout talks to it only over HTTP.
create schema if not exists accounts;

-- One row per location. The attributes are kept as columns for listing a client's accounts; the
-- identity is loc_key, a canonical JSON array built by the service in which an absent attribute
-- is `null` — so "absent" is part of the identity, never a wildcard. The row is also the unit of
-- locking: every write and every lock operation takes `for update` on the rows it touches.
create table accounts.account (
  id              bigint generated always as identity primary key,
  loc_key         text   not null unique,
  namespace       text   not null,
  type            text   not null,
  client_id       text   not null,
  contract_id     text,
  service_id      text,
  currency        text,
  -- running totals, updated in the same transaction as the events (row-locked), so the latest
  -- balance needs no sum over history
  debit           numeric not null default 0 check (debit >= 0),
  credit          numeric not null default 0 check (credit >= 0),
  -- the ledger lock (an advisory lease for cooperating writers): held while uid is set and
  -- expires_at is in the future; an expired lease is free for the next taker
  lock_uid        uuid,
  lock_expires_at timestamptz,
  created_at      timestamptz not null default now(),
  check ((lock_uid is null) = (lock_expires_at is null))
);
create index account_client on accounts.account (namespace, client_id, type);

create table accounts.batch (
  id           bigint generated always as identity primary key,
  external_id  text   not null unique check (length(external_id) between 1 and 256),
  event_type   text   not null check (length(event_type) > 0),
  dt           timestamptz not null,
  info         jsonb,
  -- sha256 of the canonical content: a repeat of external_id with the same hash is a replay,
  -- with another hash a conflict
  content_hash text   not null,
  created_at   timestamptz not null default now()
);

create table accounts.event (
  id         bigint generated always as identity primary key,
  batch_id   bigint  not null references accounts.batch (id),
  account_id bigint  not null references accounts.account (id),
  -- the batch's dt, copied so turnover windows are one index range scan per account
  dt         timestamptz not null,
  type       text    not null check (type in ('debit', 'credit')),
  amount     numeric(24, 6) not null check (amount >= 0)
);
create index event_account_dt on accounts.event (account_id, dt, id);
create index event_batch on accounts.event (batch_id);

-- Timestamps leave the service as ISO-8601 UTC text with microseconds: a JS Date would drop the
-- microseconds, and a dt read back and used as the next window's dt_from must be exact.
create function accounts.iso_utc(t timestamptz) returns text
  language sql immutable strict
  as $$ select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;
