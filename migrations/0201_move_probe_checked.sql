-- The rebalancer's move probe asks decide_plan_checked, not decide_plan (issue 11): a move is a
-- placement like any other, so the placement vocabulary's verdicts hold for it too — host ports
-- (port_conflict), job anti-affinity in both directions and job affinity, DoNotSchedule topology
-- spread. Before, a move could put a task beside a job it repels or on a machine where its port
-- was held (then the claim_ports key aborted the move instead of refusing it). The task's own claim
-- is released inside the probe, as before, so its ports and its place in its job's spread are
-- counted as gone, as they will be once it moves.
create or replace function omega.move_probe(p_cell text, p_task_id bigint, p_to bigint, p_to_version bigint,
  p_conflict_mode text)
returns text
language plpgsql as $$
declare
  v_reason text;
begin
  begin
    perform omega.release_claims(p_cell, array[p_task_id]);
    update omega.tasks t set state = 'pending' where t.cell = p_cell and t.id = p_task_id;
    select d.reason into v_reason
    from omega.decide_plan_checked(p_cell, array[p_task_id], array[p_to], array[coalesce(p_to_version, 0)],
      'all-or-nothing', p_conflict_mode, '{}', '{}', '{}') d;
    raise exception using errcode = 'OMPRB', message = 'move probe: always rolled back';
  exception when sqlstate 'OMPRB' then
    null;
  end;
  return v_reason;
end $$;
