-- Every status change of a payout writes an entry into each of t_payout's indexes (the row moves:
-- status and updated_at are indexed), so an index nothing reads costs every payout a write.
-- t_payout_account_reserved served the time-window history read that migration 005 replaced with
-- the reservation's ledger position (t_payout_account_reserve_batch); nothing reads it.
drop index t_payout_account_reserved;
