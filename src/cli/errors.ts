/** A failure as one line for people: what happened and, where we can tell, what to do. */
export function explain(error: unknown): string {
  const e = error as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.code === "EADDRINUSE") {
    const port = e.port ?? /:(\d+)$/.exec(e.message)?.[1];
    return `port ${port} is in use — is omega already running? use --port`;
  }
  if (e?.code === "ECONNREFUSED") {
    const where = e.address && e.port ? `${e.address}:${e.port}` : "the server";
    return `cannot connect to ${where} — is it running? (connection refused)`;
  }
  if (e?.code === "EACCES" && e.syscall === "listen")
    return `not allowed to listen on port ${e.port} — use --port`;
  if (error instanceof AggregateError && error.errors.length > 0) return explain(error.errors[0]);
  return (error as Error)?.message ?? String(error);
}
