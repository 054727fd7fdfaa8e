-- Idempotency keys of callers are per namespace: one tenant can neither take another's key nor,
-- through a 409, learn the id of another tenant's request or payout.
alter table t_request drop constraint t_request_external_id_key;
alter table t_request add constraint t_request_namespace_external_id_key unique (namespace, external_id);

-- Two key spaces in t_payout instead of one shared unique (service_id, external_id):
-- * fixed payouts (POST /payout, request_id null) are unique on the caller's key within its
--   namespace and service;
-- * by-client payouts (req-gate, request_id set) are unique on what they are: one payout per
--   request and payout account. Their external_id (`req-N/contract-C/CUR`) is only a label.
-- A caller of POST /payout cannot write into req-gate's space at all (it never sets request_id,
-- and by_client = (request_id is not null) is checked), whatever external_id it picks; so no key
-- shape has to be reserved and rejected at the api.
alter table t_payout drop constraint t_payout_service_id_external_id_key;
create unique index t_payout_fixed_key on t_payout (namespace, service_id, external_id) where request_id is null;
create unique index t_payout_request_key on t_payout (request_id, contract_id, service_id, currency) where request_id is not null;
-- The request's payouts are found by the unique index above (request_id leads it).
drop index t_payout_request;
