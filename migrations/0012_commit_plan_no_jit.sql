-- commit_plan is short OLTP work, but its correlated subqueries (maxPerMachine, gangs) make the
-- planner's cost estimate of a big plan exceed jit_above_cost: on a server built with LLVM, a
-- 4,000-placement commit then spent 1.4 s compiling and 0.3 s executing (measured by the omega
-- bench with auto_explain). Without JIT it takes the 0.3 s.
alter function omega.commit_plan(text, text, bigint[], bigint[], bigint[], text, text, text) set jit = off;
