-- An event's batch and account are never missing, by construction: events are inserted only
-- joined to the batch row their transaction claimed and on account rows it holds row-locked, and
-- the only deletes are of batch claims and fresh accounts that the same transaction refused (no
-- event was written for them). The two foreign keys re-checked that per event row, two lookups
-- each, about half of all the row checks of a payout's path: the stand-in's tests check for
-- orphans instead (test/accounts/write-many.test.ts).
alter table accounts.event drop constraint event_batch_id_fkey, drop constraint event_account_id_fkey;
