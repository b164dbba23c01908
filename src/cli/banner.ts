/** What `omega start` prints when it is up, and keeps in `<data>/banner.txt`. */
export function banner(info: {
  url: string;
  database: string;
  databaseUrl: string;
  adminToken: string;
  demo?: { cell: string; tenant: string; token: string } | undefined;
}): string {
  const { url, demo } = info;
  const lines = [
    `omega-scheduler is running at ${url}`,
    `  console:      ${url}/ui   (sign in with a token below)`,
    `  API docs:     ${url}/docs`,
    `  database:     ${info.database}`,
    `  psql:         psql '${info.databaseUrl}'`,
    `  admin token:  ${info.adminToken}`,
  ];
  if (demo) {
    lines.push(
      `  demo tenant:  ${demo.tenant} (token ${demo.token})`,
      "",
      "Use the CLI as the demo tenant:",
      `  export OMEGA_ADDR=${url} OMEGA_TOKEN=${demo.token}`,
      `  npx omega job run examples/hello.json      # or: echo '{"cell":"${demo.cell}","tasks":3,"resources":{"cpu":"500m"},"runtime":"30s"}' | npx omega job run -`,
      "  npx omega job status",
      "  npx omega top",
      "",
      "Or over HTTP:",
      `  curl -s -X POST ${url}/v1/jobs -H 'Authorization: Bearer ${demo.token}' \\`,
      `    -H 'Content-Type: application/json' \\`,
      `    -d '{"cell":"${demo.cell}","tasks":3,"resources":{"cpu":"500m","memory":"1Gi"},"runtime":"30s"}'`,
      `  curl -s ${url}/v1/jobs/1 -H 'Authorization: Bearer ${demo.token}'`,
      `  curl -s ${url}/v1/jobs/1/events -H 'Authorization: Bearer ${demo.token}'`,
    );
  }
  lines.push("", "Stop with Ctrl-C (or SIGTERM); this text is kept in .omega/banner.txt.");
  return `${lines.join("\n")}\n`;
}
