import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log.ts";
import { registry } from "./registry.ts";

/**
 * A scheduler worker's own metrics endpoint (`omega worker --metrics-port`): GET /metrics, and
 * nothing else. A worker has no HTTP API; this is the whole of its HTTP surface.
 */
export async function serveMetrics(
  port: number,
  host: string,
  logger: Logger,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics here\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => {
        logger.warn({ err: error }, "metrics collection failed");
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${address.port}/metrics`;
  logger.info({ url }, "metrics listening");
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
