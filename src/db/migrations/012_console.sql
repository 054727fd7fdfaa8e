-- The operator console (GET /console) reads through the public api: finding payouts newest
-- first by any of their keys, the overview's per-minute rates, and a payout's story. Each index
-- below serves one of those reads (test/console-api.test.ts checks the plans with EXPLAIN).

-- Find, newest first (order by id desc, cursor = the last id seen): by client, by status, by the
-- caller's external id of a fixed payout. (Batch, check, payment and request ids have theirs.)
create index t_payout_client_id on t_payout (client_id, id);
create index t_payout_status_id on t_payout (status, id);
create index t_payout_external_id on t_payout (external_id);
-- Find by creation time alone, and the overview's "created per minute".
create index t_payout_created on t_payout (created_at);

-- Requests that want a person (failed or parked): a small partial index, so the api's hot
-- insert path (every request starts `new`) never touches it.
create index t_request_attention on t_request (id) where status not in ('new', 'done');

-- A payout's story: the messages published for it (new-payout, notices, oebs-errors and, on the
-- Postgres backend, ARD's answers: key = payout id) and OEBS's answers of its payments
-- (key = `<payment id>/<status>`, found by prefix). text_pattern_ops serves both = and LIKE 'x%'.
create index topic_message_key on topic_message (key text_pattern_ops);
