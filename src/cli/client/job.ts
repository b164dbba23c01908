import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { positiveInt } from "../args.ts";
import { clientOptions, contextOf } from "./options.ts";
import { readEvents } from "./sse.ts";
import { cpu, memory, printJson, table } from "./table.ts";

interface Job {
  id: number;
  name: string;
  cell: string;
  tenant: string;
  priority: number;
  scheduler: string;
  tasks: number;
  pendingTasks: number;
  state: string;
  resources: { cpu: number; memory: number; gpu: number; disk: number };
  createdAt: string;
  taskCounts?: Record<string, number>;
  placements?: { taskIndex: number; machine: string; placedAt: string }[];
  pendingReasons?: { reason: string; tasks: number }[];
}

export interface EventView {
  id: number;
  at: string;
  cell: string;
  jobId: number;
  taskIndex: number | null;
  kind: string;
  machine: string | null;
  reason: string | null;
}

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

/** A job spec from a file (or stdin as "-"): JSON or YAML (YAML is a superset of JSON). */
async function readSpec(file: string): Promise<unknown> {
  const text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  try {
    return parseYaml(text);
  } catch (error) {
    throw new Error(`${file} is neither JSON nor YAML: ${(error as Error).message.split("\n")[0]}`);
  }
}

async function readStdin(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

export function eventLine(e: EventView): string {
  const task = e.taskIndex === null ? "job" : `task ${e.taskIndex}`;
  const where = e.machine ? ` on ${e.machine}` : "";
  const why = e.reason ? `: ${e.reason}` : "";
  return `${new Date(e.at).toISOString()}  job ${e.jobId}  ${task} ${e.kind}${where}${why}`;
}

function statusText(job: Job): string {
  const lines = [
    `ID         = ${job.id}`,
    `Name       = ${job.name || "-"}`,
    `Tenant     = ${job.tenant}`,
    `Cell       = ${job.cell}`,
    `State      = ${job.state}`,
    `Priority   = ${job.priority}`,
    `Scheduler  = ${job.scheduler}`,
    `Resources  = cpu ${cpu(job.resources.cpu)}, memory ${memory(job.resources.memory)}, gpu ${job.resources.gpu} (per task)`,
    `Submitted  = ${job.createdAt} (${age(job.createdAt)} ago)`,
    "",
    "Tasks",
    table(
      ["pending", "placed", "running", "succeeded", "failed", "cancelled"],
      [
        ["pending", "placed", "running", "succeeded", "failed", "cancelled"].map(
          (s) => job.taskCounts?.[s] ?? 0,
        ),
      ],
    ),
  ];
  if (job.pendingReasons?.length) {
    lines.push(
      "Pending because",
      table(
        ["TASKS", "REASON"],
        job.pendingReasons.map((r) => [r.tasks, r.reason]),
      ),
    );
  }
  const placements = job.placements ?? [];
  if (placements.length > 0) {
    const shown = placements.slice(0, 20);
    lines.push(
      "Placements",
      table(
        ["TASK", "MACHINE", "PLACED"],
        shown.map((p) => [p.taskIndex, p.machine, `${age(p.placedAt)} ago`]),
      ),
    );
    if (placements.length > shown.length)
      lines.push(`… and ${placements.length - shown.length} more (--json)`, "");
  }
  return lines.join("\n");
}

export function jobCommand(): Command {
  const job = new Command("job").description(
    "submit, inspect, watch and cancel jobs (as a tenant; the admin reads all)",
  );

  clientOptions(job.command("run"))
    .description("submit the job spec in FILE (JSON or YAML; - reads stdin)")
    .argument("<file>")
    .action(async (file: string, _options, command: Command) => {
      const { client, json } = contextOf(command);
      const created = await client.send<Job>("POST", "/v1/jobs", await readSpec(file));
      if (json) printJson(created);
      else
        process.stdout.write(
          `Job ${created.id} submitted: ${created.tasks} tasks in cell ${created.cell}, ${created.state}\n  omega job status ${created.id}\n`,
        );
    });

  clientOptions(job.command("status"))
    .description("list jobs, or show one job: tasks, placements, why tasks are pending")
    .argument("[id]", "a job id", positiveInt)
    .option("--state <state>", "only jobs in this state (list)")
    .option("--cell <cell>", "only jobs of this cell (list)")
    .action(async (id: number | undefined, options: { state?: string; cell?: string }, command: Command) => {
      const { client, json } = contextOf(command);
      if (id !== undefined) {
        const found = await client.get<Job>(`/v1/jobs/${id}`);
        if (json) printJson(found);
        else process.stdout.write(statusText(found));
        return;
      }
      const query = new URLSearchParams({ limit: "1000" });
      if (options.state) query.set("state", options.state);
      if (options.cell) query.set("cell", options.cell);
      const page = await client.get<{ jobs: Job[] }>(`/v1/jobs?${query}`);
      if (json) {
        printJson(page);
        return;
      }
      const jobs = [...page.jobs].sort((a, b) => b.id - a.id);
      if (jobs.length === 0) {
        process.stdout.write("No jobs\n");
        return;
      }
      process.stdout.write(
        table(
          ["ID", "NAME", "TENANT", "CELL", "STATE", "TASKS", "PENDING", "PRIORITY", "AGE"],
          jobs.map((j) => [
            j.id,
            j.name || "-",
            j.tenant,
            j.cell,
            j.state,
            j.tasks,
            j.pendingTasks,
            j.priority,
            age(j.createdAt),
          ]),
        ),
      );
    });

  clientOptions(job.command("cancel"))
    .description("cancel a job: its claims are released at once")
    .argument("<id>", "a job id", positiveInt)
    .action(async (id: number, _options, command: Command) => {
      const { client, json } = contextOf(command);
      const result = await client.send<{ id: number; state: string }>("DELETE", `/v1/jobs/${id}`);
      if (json) printJson(result);
      else process.stdout.write(`Job ${id} ${result.state}\n`);
    });

  clientOptions(job.command("events"))
    .description("a job's events; with --follow, stream them until the job finishes")
    .argument("<id>", "a job id", positiveInt)
    .option("-f, --follow", "keep streaming new events (ends when the job succeeds, fails or is cancelled)")
    .action(async (id: number, options: { follow?: boolean }, command: Command) => {
      const { client, json } = contextOf(command);
      const print = (e: EventView) =>
        process.stdout.write(json ? `${JSON.stringify(e)}\n` : `${eventLine(e)}\n`);
      if (!options.follow) {
        const page = await client.get<{ events: EventView[] }>(`/v1/jobs/${id}/events`);
        if (json) printJson(page);
        else for (const e of page.events) print(e);
        return;
      }
      await followJob(client, id, print, json);
    });

  return job;
}

/** Streams a job's events; reconnects with Last-Event-ID when the connection drops. */
async function followJob(
  client: ReturnType<typeof contextOf>["client"],
  id: number,
  print: (e: EventView) => void,
  json: boolean,
): Promise<void> {
  let last: string | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await client.stream(
        `/v1/jobs/${id}/events?follow=true`,
        last ? { "last-event-id": last } : {},
      );
      attempt = 0;
      for await (const event of readEvents(response.body as ReadableStream<Uint8Array>)) {
        if (event.event === "end") {
          const end = JSON.parse(event.data) as { state: string };
          if (json) process.stdout.write(`${JSON.stringify({ end: true, ...end })}\n`);
          else process.stdout.write(`Job ${id} ${end.state}\n`);
          return;
        }
        if (event.id) last = event.id;
        print(JSON.parse(event.data) as EventView);
      }
    } catch (error) {
      if ((error as { status?: number }).status !== undefined || attempt >= 5) throw error;
    }
    // The stream ended without `end` (a server restart): resume where it was.
    await new Promise((r) => setTimeout(r, 1000));
  }
}
