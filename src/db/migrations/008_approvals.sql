-- Who decided and why, next to every status change. Approvals and declines are made by people
-- through the api; the history row is written by the trigger in the same transaction as the
-- change, reading the actor, action and reason the api set for that transaction only
-- (set_config(..., true)): a status change made by a gate carries none of them.
alter table t_payout_history add column actor text;
alter table t_payout_history add column action text;
alter table t_payout_history add column reason text;

-- An approval changes no status (the payout stays `new` and goes on to the sender), so the
-- trigger also records approve_req going from true to false.
create or replace function t_payout_history_write() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' or new.status is distinct from old.status or (old.approve_req and not new.approve_req) then
    insert into t_payout_history (payout_id, status, error, actor, action, reason)
    values (new.id, new.status, new.error,
            nullif(current_setting('payout.actor', true), ''),
            nullif(current_setting('payout.action', true), ''),
            nullif(current_setting('payout.reason', true), ''));
  end if;
  return new;
end $$;
drop trigger t_payout_history_write on t_payout;
create trigger t_payout_history_write after insert or update of status, approve_req on t_payout
  for each row execute function t_payout_history_write();

-- The approval queue (GET /payout?approve_req=true&status=new), oldest first.
create index t_payout_awaiting_approval on t_payout (id) where status = 'new' and approve_req;
