#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx's loader: no build step between `npm install` and `omega`.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
