#!/usr/bin/env bash
# Regenerates schema/omega.sql on a scratch database of the server at $SERVER (default: the local one).
set -euo pipefail
server=${SERVER:-postgres://postgres@127.0.0.1:5432}
name=omega_dump_$$
psql "$server/postgres" -qc "create database $name"
trap 'psql "$server/postgres" -qc "drop database if exists $name with (force)"' EXIT
DATABASE_URL="$server/$name" npx tsx scripts/dump-schema.ts
