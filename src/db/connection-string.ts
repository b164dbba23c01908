/**
 * Multi-host connection strings, as libpq reads them (node-postgres reads only one host):
 *
 *   postgres://omega:secret@db1:5432,db2:5433/omega?target_session_attrs=read-write
 *   host=db1,db2 port=5432,5433 dbname=omega user=omega target_session_attrs=read-write
 *
 * Each host is turned into a plain single-host URL that node-postgres parses as usual (user,
 * password, database, sslmode and every other parameter kept); `target_session_attrs` says whether
 * a connection must land on a server that accepts writes (`read-write`, `primary`) or on any (`any`,
 * the default — libpq's too).
 */
export interface HostTarget {
  host: string;
  port: number;
  /** A single-host URL for this host, with every other setting of the original string. */
  url: string;
}

export interface ConnectionTargets {
  targets: HostTarget[];
  /** Only a server that is not read-only (not a standby) will do. */
  readWrite: boolean;
}

const URL_FORM = /^(postgres(?:ql)?):\/\/(?:([^@/]*)@)?([^/?]*)(\/[^?]*)?(?:\?(.*))?$/;

/** The hosts of `connectionString` and what a session on them must allow. */
export function parseConnectionString(connectionString: string): ConnectionTargets {
  const parsed = URL_FORM.test(connectionString) ? fromUrl(connectionString) : fromKeywords(connectionString);
  const attrs = parsed.params.get("target_session_attrs") ?? "any";
  if (!["any", "read-write", "primary"].includes(attrs))
    throw new Error(`target_session_attrs=${attrs} is not supported (use read-write, primary or any)`);
  parsed.params.delete("target_session_attrs");
  const portParam = parsed.params.get("port");
  parsed.params.delete("port");
  const defaultPorts = portParam ? portParam.split(",").map(Number) : [];
  const query = parsed.params.size > 0 ? `?${parsed.params.toString()}` : "";
  const targets = parsed.hosts.map(({ host, port }, i) => {
    const chosen = port ?? defaultPorts[i] ?? defaultPorts[0] ?? 5432;
    // A Unix socket's directory stays encoded, as node-postgres reads it (postgres://u@%2Frun%2Fpg/db).
    const shownHost = host.startsWith("/")
      ? encodeURIComponent(host)
      : host.includes(":")
        ? `[${host}]`
        : host;
    return {
      host,
      port: chosen,
      url: `${parsed.scheme}://${parsed.auth}${shownHost}:${chosen}${parsed.path}${query}`,
    };
  });
  return { targets, readWrite: attrs !== "any" };
}

interface Parsed {
  scheme: string;
  /** `user:password@` as written (already URL-encoded), or "". */
  auth: string;
  hosts: { host: string; port?: number }[];
  path: string;
  params: URLSearchParams;
}

function fromUrl(connectionString: string): Parsed {
  const [, scheme = "postgres", auth, authority = "", path = "", query = ""] =
    URL_FORM.exec(connectionString) ?? [];
  const params = new URLSearchParams(query);
  // libpq also takes the hosts as a parameter: postgres:///omega?host=a,b&port=5432,5433
  const hostParam = params.get("host");
  params.delete("host");
  const hostList = authority || hostParam || "";
  const hosts = hostList.split(",").map((entry) => {
    // [v6::addr]:port, name:port or a bare name.
    const match = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(entry);
    if (!match) throw new Error(`cannot read host "${entry}" in the connection string`);
    const host = decodeURIComponent(match[1] ?? match[2] ?? "") || "localhost";
    return { host, port: match[3] ? Number(match[3]) : undefined };
  });
  return {
    scheme,
    auth: auth === undefined ? "" : `${auth}@`,
    hosts,
    path,
    params,
  };
}

/** libpq's keyword/value form: `key=value` pairs, values optionally in single quotes. */
function fromKeywords(connectionString: string): Parsed {
  const values = new Map<string, string>();
  const pair = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/gy;
  let end = 0; // a failed sticky match resets lastIndex, so keep where the last pair ended
  for (let match = pair.exec(connectionString); match; match = pair.exec(connectionString)) {
    const [, key = "", quoted, bare] = match;
    values.set(key, quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : (bare ?? ""));
    end = pair.lastIndex;
  }
  if (values.size === 0 || connectionString.slice(end).trim() !== "")
    throw new Error("cannot read the connection string (expected postgres://… or key=value pairs)");
  const take = (key: string) => {
    const value = values.get(key);
    values.delete(key);
    return value;
  };
  const user = take("user");
  const password = take("password");
  const auth = user
    ? `${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ""}@`
    : "";
  const hosts = (take("host") ?? "localhost").split(",").map((host) => ({ host }));
  const dbname = take("dbname");
  return {
    scheme: "postgres",
    auth,
    hosts,
    path: dbname ? `/${encodeURIComponent(dbname)}` : "",
    params: new URLSearchParams([...values]),
  };
}

/**
 * The same connection in libpq's keyword/value form (`host=a,b port=1,2 dbname=… user=…`), for
 * consumers that append their own keywords, such as PL/Proxy's partition strings.
 */
export function toKeywordForm(connectionString: string): string {
  const { targets, readWrite } = parseConnectionString(connectionString);
  const first = new URL(targets[0]?.url ?? "postgres://localhost");
  const quote = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  const pairs: [string, string][] = [
    ["host", targets.map((t) => t.host).join(",")],
    ["port", targets.map((t) => String(t.port)).join(",")],
  ];
  if (first.pathname.length > 1) pairs.push(["dbname", decodeURIComponent(first.pathname.slice(1))]);
  if (first.username) pairs.push(["user", decodeURIComponent(first.username)]);
  if (first.password) pairs.push(["password", decodeURIComponent(first.password)]);
  if (readWrite) pairs.push(["target_session_attrs", "read-write"]);
  for (const [key, value] of first.searchParams) pairs.push([key, value]);
  return pairs.map(([key, value]) => `${key}=${quote(value)}`).join(" ");
}
