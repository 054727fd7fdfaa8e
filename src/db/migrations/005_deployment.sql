-- The deployment id: a random id of this database, part of every key another system remembers
-- (ledger external ids, NATS message ids). Payout ids restart at 1 in a new database; these keys
-- must not, or a second deployment against the same ledger or NATS would replay the first one's
-- reservations and have its messages dropped as duplicates. It survives restarts; a database
-- restored into a NEW deployment gets a new one with `payout deployment-id --reset`
-- (docs/operations.md). Exactly one row.
create table t_deployment (
  id         text        not null check (id ~ '^[0-9a-f]{32}$'),
  one        boolean     not null default true primary key check (one),
  created_at timestamptz not null default now()
);
insert into t_deployment (id) values (replace(gen_random_uuid()::text, '-', ''));

create function payout_deployment_id() returns text language sql stable
  as $$ select id from t_deployment $$;

-- The deployment a payout was created in: its ledger keys are built from this, not from the
-- current deployment id, so resetting the id never changes the keys of a payout already under way
-- (a retried confirm must find its first attempt). Payouts that exist before this migration get
-- '' and keep the keys they were written with (`payout/<id>/…`): one under way across the upgrade
-- still finds its reservation and its ledger events.
alter table t_payout add column deployment_id text not null default '';
alter table t_payout alter column deployment_id set default payout_deployment_id();

-- Likewise the id a message is relayed to NATS under (Nats-Msg-Id): the deployment it was
-- published in, so a relay resend after a reset or an upgrade keeps the id JetStream saw.
alter table topic_message add column deployment_id text not null default '';
alter table topic_message alter column deployment_id set default payout_deployment_id();

-- The ledger batch of the payout's reservation. The next payout of the same account reads the
-- ledger from this batch on (its position in the account's history), not from a time window:
-- no clock of ours has to agree with the ledger's, and an account with a long history costs no
-- more than a new one.
alter table t_payout add column reserve_batch_id bigint;
create index t_payout_account_reserve_batch on t_payout (namespace, client_id, contract_id, service_id, currency, reserve_batch_id)
  where reserve_batch_id is not null;
