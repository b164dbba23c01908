#!/bin/sh
# Runs once, as the superuser, when the postgres container initialises an empty data directory
# (docker-entrypoint-initdb.d). Creates the login roles docker-compose.yml connects as:
#   omega_owner        owns the database and the schema; runs `omega migrate` (not a superuser)
#   api                the API deployment                 (member of omega_api)
#   scheduler_batch    the batch scheduler deployment     (member of omega_scheduler)
#   scheduler_service  the service scheduler deployment   (member of omega_scheduler)
#   reader             psql inspection                    (member of omega_reader)
# The group roles belong to the migrations (0009_roles.sql); they are made here as well so that the
# login roles can join them before the first migration, which then finds them and creates nothing.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v owner_password="$OMEGA_OWNER_PASSWORD" \
  -v api_password="$OMEGA_API_PASSWORD" \
  -v batch_password="$OMEGA_SCHEDULER_BATCH_PASSWORD" \
  -v service_password="$OMEGA_SCHEDULER_SERVICE_PASSWORD" \
  -v reader_password="$OMEGA_READER_PASSWORD" <<'SQL'
do $$
declare
  r text;
begin
  foreach r in array array['omega_api', 'omega_scheduler', 'omega_reader'] loop
    if not exists (select from pg_roles where rolname = r) then
      execute format('create role %I nologin', r);
    end if;
  end loop;
end $$;

create role omega_owner login password :'owner_password';
alter database :"db" owner to omega_owner;
create role api login password :'api_password' in role omega_api;
create role scheduler_batch login password :'batch_password' in role omega_scheduler;
create role scheduler_service login password :'service_password' in role omega_scheduler;
create role reader login password :'reader_password' in role omega_reader;
SQL
