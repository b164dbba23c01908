import { describe, expect, it } from "vitest";
import { parseConnectionString, toKeywordForm } from "../../src/db/connection-string.ts";

describe("parseConnectionString", () => {
  it("reads a multi-host URL into one single-host URL per host, keeping every other setting", () => {
    const parsed = parseConnectionString(
      "postgres://omega:s%40cret@db1:5432,db2:5433/omega?target_session_attrs=read-write&sslmode=require",
    );
    expect(parsed.readWrite).toBe(true);
    expect(parsed.targets).toEqual([
      { host: "db1", port: 5432, url: "postgres://omega:s%40cret@db1:5432/omega?sslmode=require" },
      { host: "db2", port: 5433, url: "postgres://omega:s%40cret@db2:5433/omega?sslmode=require" },
    ]);
  });

  it("reads libpq's keyword form, one port for all hosts or one per host", () => {
    const one = parseConnectionString(
      "host=a,b port=6000 dbname=omega user=me password='it\\'s' target_session_attrs=primary",
    );
    expect(one.readWrite).toBe(true);
    expect(one.targets.map((t) => [t.host, t.port])).toEqual([
      ["a", 6000],
      ["b", 6000],
    ]);
    const each = parseConnectionString("host=a,b port=1,2 user=me");
    expect(each.targets.map((t) => t.url)).toEqual(["postgres://me@a:1", "postgres://me@b:2"]);
    expect(each.readWrite).toBe(false);
  });

  it("leaves a plain URL as it was: one host, any session", () => {
    const parsed = parseConnectionString("postgres://postgres@127.0.0.1:5432/postgres");
    expect(parsed).toEqual({
      readWrite: false,
      targets: [{ host: "127.0.0.1", port: 5432, url: "postgres://postgres@127.0.0.1:5432/postgres" }],
    });
  });

  it("reads IPv6 hosts and defaults the port to 5432", () => {
    const parsed = parseConnectionString("postgresql://[::1]:6432,db2/x");
    expect(parsed.targets.map((t) => [t.host, t.port, t.url])).toEqual([
      ["::1", 6432, "postgresql://[::1]:6432/x"],
      ["db2", 5432, "postgresql://db2:5432/x"],
    ]);
  });

  it("takes the hosts from the host parameter too", () => {
    const parsed = parseConnectionString(
      "postgres:///omega?host=a,b&port=1,2&target_session_attrs=read-write",
    );
    expect(parsed.targets.map((t) => t.url)).toEqual(["postgres://a:1/omega", "postgres://b:2/omega"]);
  });

  it("keeps a Unix socket's directory a directory, however it is written", () => {
    const urls = [
      "postgres://me:pw@%2Fvar%2Frun%2Fpostgresql:5433/omega",
      "postgres://me:pw@/omega?host=/var/run/postgresql&port=5433",
      "host=/var/run/postgresql port=5433 dbname=omega user=me password=pw",
    ];
    for (const url of urls) {
      expect(parseConnectionString(url).targets).toEqual([
        {
          host: "/var/run/postgresql",
          port: 5433,
          url: "postgres://me:pw@%2Fvar%2Frun%2Fpostgresql:5433/omega",
        },
      ]);
      expect(toKeywordForm(url)).toBe(
        "host='/var/run/postgresql' port='5433' dbname='omega' user='me' password='pw'",
      );
    }
  });

  it("refuses what it cannot honour", () => {
    expect(() => parseConnectionString("postgres://a,b/x?target_session_attrs=standby")).toThrow(
      /not supported/,
    );
    expect(() => parseConnectionString("not a connection string")).toThrow(/cannot read/);
  });

  it("writes a URL back in keyword form, multi-host and quoted", () => {
    expect(
      toKeywordForm("postgres://me:p%27w@a:1,b:2/omega?target_session_attrs=read-write&sslmode=require"),
    ).toBe(
      "host='a,b' port='1,2' dbname='omega' user='me' password='p\\'w' target_session_attrs='read-write' sslmode='require'",
    );
  });
});
