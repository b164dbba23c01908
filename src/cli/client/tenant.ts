import { Command, InvalidArgumentError } from "commander";
import { clientOptions, contextOf } from "./options.ts";
import { cpu, memory, printJson, table } from "./table.ts";

interface Quota {
  tenant: string;
  cell: string;
  band: string;
  limit: Record<string, number>;
  used: Record<string, number>;
}

export function tenantCommand(): Command {
  const tenant = new Command("tenant").description("tenants (admin)");
  clientOptions(tenant.command("create"))
    .description("create tenant NAME and print its token (shown once)")
    .argument("<name>")
    .action(async (name: string, _options, command: Command) => {
      const { client, json } = contextOf(command);
      const created = await client.send<{ id: number; name: string; token: string }>("POST", "/v1/tenants", {
        name,
      });
      if (json) printJson(created);
      else
        process.stdout.write(
          `Tenant ${created.name} created (id ${created.id}). Its token, shown only now:\n  ${created.token}\n`,
        );
    });
  clientOptions(tenant.command("list"))
    .description("every tenant")
    .action(async (_options, command: Command) => {
      const { client, json } = contextOf(command);
      const page = await client.get<{ tenants: { id: number; name: string }[] }>("/v1/tenants");
      if (json) printJson(page);
      else
        process.stdout.write(
          table(
            ["ID", "NAME"],
            page.tenants.map((t) => [t.id, t.name]),
          ),
        );
    });
  return tenant;
}

function quantity(value: string): string {
  if (!/^[0-9.+eE]+[a-zA-Z]*$/.test(value))
    throw new InvalidArgumentError("expected a quantity such as 4, 500m or 16Gi");
  return value;
}

export function quotaCommand(): Command {
  const quota = new Command("quota").description("quotas per tenant, cell and band");
  clientOptions(quota.command("set"))
    .description("set the quota of TENANT in CELL for BAND (batch or production) (admin)")
    .argument("<tenant>")
    .argument("<cell>")
    .argument("<band>", "batch or production")
    .option("--cpu <quantity>", "cpu (Default: 0)", quantity)
    .option("--memory <quantity>", "memory (Default: 0)", quantity)
    .option("--gpu <quantity>", "gpus (Default: 0)", quantity)
    .option("--disk <quantity>", "disk (Default: 0)", quantity)
    .action(
      async (
        tenant: string,
        cell: string,
        band: string,
        options: Record<string, string>,
        command: Command,
      ) => {
        const { client, json } = contextOf(command);
        const resources = Object.fromEntries(
          ["cpu", "memory", "gpu", "disk"].flatMap((k) =>
            options[k] === undefined ? [] : [[k, options[k]]],
          ),
        );
        if (Object.keys(resources).length === 0)
          throw new Error("give at least one of --cpu, --memory, --gpu, --disk");
        const path = `/v1/quotas/${encodeURIComponent(tenant)}/${encodeURIComponent(cell)}/${encodeURIComponent(band)}`;
        const result = await client.send<Quota>("PUT", path, { resources });
        if (json) printJson(result);
        else
          process.stdout.write(
            `Quota of ${tenant} in ${cell} (${band}): cpu ${cpu(result.limit.cpu ?? 0)}, memory ${memory(result.limit.memory ?? 0)}, gpu ${result.limit.gpu ?? 0}\n`,
          );
      },
    );
  clientOptions(quota.command("list"))
    .description("quotas with their usage (a tenant sees its own)")
    .action(async (_options, command: Command) => {
      const { client, json } = contextOf(command);
      const page = await client.get<{ quotas: Quota[] }>("/v1/quotas");
      if (json) {
        printJson(page);
        return;
      }
      process.stdout.write(
        table(
          ["TENANT", "CELL", "BAND", "CPU", "MEMORY", "GPU"],
          page.quotas.map((q) => [
            q.tenant,
            q.cell,
            q.band,
            `${cpu(q.used.cpu ?? 0)}/${cpu(q.limit.cpu ?? 0)}`,
            `${memory(q.used.memory ?? 0)}/${memory(q.limit.memory ?? 0)}`,
            `${q.used.gpu ?? 0}/${q.limit.gpu ?? 0}`,
          ]),
        ),
      );
    });
  return quota;
}
