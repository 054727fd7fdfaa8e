-- Reading an account's history from a batch on (`history` in POST /v1/batch/read) is a range
-- scan by event id: per account, event ids grow in commit order, because events are inserted
-- while the account row is locked and the lock lasts until commit. Batch ids do not: a batch
-- row is inserted before its accounts are locked, so a later-committed batch can hold a lower id.
create index event_account_id on accounts.event (account_id, id);

-- Where a batch sits in an account's history is one probe of this index (a batch has few
-- events); it also serves everything event_batch did, so it replaces it.
create index event_batch_account on accounts.event (batch_id, account_id, id);
drop index accounts.event_batch;
