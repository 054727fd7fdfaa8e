-- Retries that end (src/domain/retry.ts). A request or payout whose call to the accounts system
-- fails for a transient reason counts the attempt, keeps the error and waits until
-- next_attempt_at (exponential backoff, capped); after PAYOUT_MAX_ATTEMPTS it is parked:
-- a request goes to `error`, a payout to `parked`, both with the last error, until
-- POST /api/v1/{request,payout}/:id/retry puts it back.
--
-- next_attempt_at is never null: a fresh row is due when it is created. The gates claim in due
-- order (next_attempt_at, id) from an index holding only claimable rows, so rows waiting out a
-- backoff sit outside the scanned range and never delay healthy ones behind them.
alter table t_request add column attempts int not null default 0;
alter table t_request add column last_error text;
alter table t_request add column next_attempt_at timestamptz not null default now();
drop index t_request_new;
create index t_request_due on t_request (next_attempt_at, id) where status = 'new';
-- payout_parked{kind="request"}
create index t_request_error on t_request (id) where status = 'error';

alter table t_payout add column attempts int not null default 0;
alter table t_payout add column last_error text;
alter table t_payout add column next_attempt_at timestamptz not null default now();
-- `parked`: the sender gave up on a `new` payout after PAYOUT_MAX_ATTEMPTS failed accounts calls.
-- It was never stored as reserved or published; its error says why it stopped.
alter table t_payout drop constraint t_payout_status_check;
alter table t_payout add constraint t_payout_status_check
  check (status in ('new', 'pending', 'confirmed', 'done', 'rejected', 'parked'));
alter table t_payout add constraint t_payout_parked_error check (status <> 'parked' or error is not null);
drop index t_payout_sender_new;
create index t_payout_sender_due on t_payout (next_attempt_at, id) where status = 'new' and not approve_req;
-- The parked list (GET /payout?status=parked), the payout_parked gauge and integrity.
create index t_payout_parked on t_payout (id) where status = 'parked';
