#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx's loader: no build step between `npm install` and `omega`.
import { register } from "tsx/esm/api";

// A SIGTERM or SIGINT that arrives while the CLI is still loading (a process restarted a moment
// ago, stopped again) is a clean stop: nothing has started that needs draining. Commands that run
// replace these with their own graceful handlers (src/cli/shutdown.ts).
const stopWhileLoading = (signal) => process.exit(signal === "SIGINT" ? 130 : 0);
process.on("SIGTERM", stopWhileLoading);
process.on("SIGINT", stopWhileLoading);
globalThis.omegaStopWhileLoading = stopWhileLoading;

register();
await import("../src/cli/main.ts");
