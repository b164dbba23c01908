// Regenerates schema/omega.sql from DATABASE_URL (a freshly migrated database).
import { writeFile } from "node:fs/promises";
import { migrate } from "../src/db/migrate.ts";
import { createPool } from "../src/db/pool.ts";
import { dumpSchema } from "../src/db/schema-dump.ts";

const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is required");
const pool = createPool(url, { max: 2 });
await migrate(pool);
await writeFile("schema/omega.sql", await dumpSchema(pool));
await pool.end();
