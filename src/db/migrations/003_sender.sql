-- When the sender reserved the money of a payout (the dt of its reservation batch in the
-- ledger). The next payout of the same account reads the accruals after this moment.
alter table t_payout add column reserve_dt timestamptz;
create index t_payout_account_reserved on t_payout (namespace, client_id, contract_id, service_id, currency, reserve_dt)
  where reserve_dt is not null;
