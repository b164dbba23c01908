import { readFile } from "node:fs/promises";
import { expect, it } from "vitest";
import { loadMigrations } from "../../src/db/migrate.ts";

// Migrations only grow: a database that applied a migration refuses to start with an edited copy
// of it (src/db/migrate.ts), so a file on main must never change. migrations/checksums.txt records
// each file's sha256 when it is added; an edit, a rename or a removal fails here, in CI, before it
// reaches anyone's database. A new migration is added to the list in the same commit:
//   sha256sum migrations/0*.sql | awk '{ sub("migrations/", "", $2); print $2, $1 }' >> …
// and only appended — a changed line is a rewritten migration.
it("no migration that was ever committed has changed, and every migration is in the list", async () => {
  const recorded = (await readFile("migrations/checksums.txt", "utf8"))
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("#"))
    .map((line) => line.split(/\s+/) as [string, string]);
  const actual = new Map((await loadMigrations()).map((m) => [m.name, m.checksum]));
  for (const [name, checksum] of recorded) {
    expect(actual.get(name), `${name} was edited, renamed or removed: add a new migration instead`).toBe(
      checksum,
    );
  }
  const listed = new Set(recorded.map(([name]) => name));
  const unlisted = [...actual.keys()].filter((name) => !listed.has(name));
  expect(unlisted, "new migrations must be appended to migrations/checksums.txt").toEqual([]);
});
