-- payout's own tables (DESIGN.md, "Data"). Money is numeric(24,6): up to 18 integer digits and
-- 6 decimals, exact. Ids of other systems (clients, contracts, services) are bigint.

create table t_request (
  id          bigint generated always as identity primary key,
  external_id text    not null unique check (length(external_id) between 1 and 128),
  client_id   bigint  not null check (client_id > 0),
  namespace   text    not null,
  cpf_only    boolean not null default false,
  status      text    not null default 'new' check (status in ('new', 'done', 'error')),
  error       text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  check ((status = 'error') = (error is not null))
);
-- req-gate claims by this: only the live rows are indexed, so it stays small.
create index t_request_new on t_request (id) where status = 'new';

create table t_payout (
  id              bigint generated always as identity primary key,
  external_id     text    not null check (length(external_id) between 1 and 128),
  request_id      bigint  references t_request (id),
  namespace       text    not null,
  client_id       bigint  not null check (client_id > 0),
  contract_id     bigint  not null check (contract_id > 0),
  service_id      bigint  not null check (service_id > 0),
  currency        text    not null check (currency ~ '^[A-Z]{3}$'),
  -- by-client payouts (from a request) pay the balance the sender finds; fixed ones pay `amount`.
  by_client       boolean not null,
  amount          numeric(24, 6) not null check (amount >= 0),
  amount_oebs     numeric(24, 2) check (amount_oebs >= 0),
  cpf_only        boolean not null default false,
  status          text    not null default 'new'
                  check (status in ('new', 'pending', 'confirmed', 'done', 'rejected')),
  error           text,
  dry_run         boolean,
  approve_req     boolean not null default false,
  oebs_batch_id   text,
  oebs_check_id   text,
  oebs_payment_id text,
  oebs_status     text,
  oebs_status_dt  timestamptz,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  unique (service_id, external_id),
  check (by_client = (request_id is not null)),
  check (status <> 'rejected' or error is not null)
);
create index t_payout_sender_new on t_payout (id) where status = 'new' and not approve_req;
create index t_payout_request on t_payout (request_id) where request_id is not null;
create index t_payout_client on t_payout (client_id, created_at);
create index t_payout_batch on t_payout (oebs_batch_id) where oebs_batch_id is not null;
create index t_payout_check on t_payout (oebs_check_id) where oebs_check_id is not null;

create table t_payout_history (
  id         bigint generated always as identity primary key,
  payout_id  bigint not null references t_payout (id),
  status     text   not null,
  error      text,
  created_at timestamptz not null default now()
);
create index t_payout_history_payout on t_payout_history (payout_id, id);

-- Every status change of a payout is recorded by the database itself, so no code path can
-- forget it: the history row commits or rolls back with the change.
create function t_payout_history_write() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' or new.status is distinct from old.status then
    insert into t_payout_history (payout_id, status, error) values (new.id, new.status, new.error);
  end if;
  return new;
end $$;
create trigger t_payout_history_write after insert or update of status on t_payout
  for each row execute function t_payout_history_write();

create table t_cpf (
  id             bigint generated always as identity primary key,
  payout_id      bigint not null references t_payout (id),
  operation_type text   not null,
  external_id    text   not null,
  amount         numeric(24, 6) not null,
  status         text   not null default 'new' check (status in ('new', 'done')),
  dry_run        boolean not null default false,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  unique (payout_id, operation_type, external_id)
);
