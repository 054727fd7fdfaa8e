-- Payments of a payout that OEBS returned. A returned payout is `confirmed` again with the same
-- payment id it was paid under, so only this list tells a late duplicate RECONCILED of the
-- returned payment (which must not mark it paid: its money came back) from a fresh one.
alter table t_payout add column oebs_returned_payments text[] not null default '{}';
