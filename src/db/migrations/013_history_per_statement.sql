-- The payout history, written once per statement instead of once per row. A receiver round moves
-- hundreds of payouts with one UPDATE; a row trigger ran a plpgsql call and an INSERT for each of
-- them, one INSERT … SELECT over the statement's transition tables does the same work at once.
-- Same rule as before (migration 008): a new payout, a status change, or approve_req going from
-- true to false; who, what and why from the transaction's settings.
drop trigger t_payout_history_write on t_payout;
drop function t_payout_history_write();

-- Who changed payouts in this transaction, what and why (set by the api for approvals; empty for gates).
create function t_payout_history_who(out actor text, out action text, out reason text) language sql stable as $$
  select nullif(current_setting('payout.actor', true), ''), nullif(current_setting('payout.action', true), ''),
         nullif(current_setting('payout.reason', true), '')
$$;

create function t_payout_history_inserted() returns trigger language plpgsql as $$
begin
  insert into t_payout_history (payout_id, status, error, actor, action, reason)
  select n.id, n.status, n.error, w.actor, w.action, w.reason
  from new_rows n cross join t_payout_history_who() w order by n.id;
  return null;
end $$;

create function t_payout_history_updated() returns trigger language plpgsql as $$
begin
  insert into t_payout_history (payout_id, status, error, actor, action, reason)
  select n.id, n.status, n.error, w.actor, w.action, w.reason
  from new_rows n join old_rows o on o.id = n.id cross join t_payout_history_who() w
  where n.status is distinct from o.status or (o.approve_req and not n.approve_req)
  order by n.id;
  return null;
end $$;

-- Transition tables allow no column list, so the update trigger sees every UPDATE of t_payout and
-- compares the rows itself.
create trigger t_payout_history_inserted after insert on t_payout
  referencing new table as new_rows for each statement execute function t_payout_history_inserted();
create trigger t_payout_history_updated after update on t_payout
  referencing old table as old_rows new table as new_rows for each statement execute function t_payout_history_updated();
