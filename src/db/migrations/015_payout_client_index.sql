-- Every status change of a payout writes an entry into each of t_payout's indexes, so an index
-- another one serves costs every payout writes for nothing. t_payout_client (client_id,
-- created_at) is such a one since migration 012: the by-client listing reads t_payout_client_id
-- (client_id, id), in the id order it pages by, and filters created_at on the way.
drop index t_payout_client;
