/**
 * One table of job specs and one of machine specs, each run through HTTP (POST /v1/jobs, PUT
 * /v1/cells/:cell/machines/:name) and through SQL (omega.submit_job, omega.put_machine), asserting
 * the same verdict on both sides. The two used to drift: an affinity term {"op": "In"} with no values
 * was refused over HTTP and accepted in SQL (a job that waits forever), and SQL took label keys,
 * selectors and taints HTTP refuses (issue 10; L1, L2 of issue 17).
 *
 * SQL runs in a transaction rolled back after each case, so what one case submits changes nothing
 * for the next; HTTP submissions are cancelled.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeCell, makeMachine, makeTenant } from "../support/factories.ts";

type Verdict = "accepted" | "refused";

let api: Api;
let token: string;
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  await makeMachine(api.db.pool, { name: "m1", labels: { zone: "a" } });
  token = (await makeTenant(api.db.pool, "acme")).token;
});
afterAll(() => api?.close());

const ok = { cell: "east", tasks: 1, resources: { cpu: 100 } };
const spec = (extra: Record<string, unknown>) => ({ ...ok, ...extra });
const constraints = (c: Record<string, unknown>) => spec({ constraints: c });
const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
const long = (n: number) => "x".repeat(n);

const JOBS: [string, unknown, Verdict][] = [
  ["the smallest job", ok, "accepted"],
  ["quantity strings", spec({ resources: { cpu: "500m", memory: "1Gi", disk: "10Gi" } }), "accepted"],
  ["a band name", spec({ priority: "batch" }), "accepted"],
  ["best-effort", spec({ priority: "best-effort" }), "accepted"],
  ["priority 199, the default maximum", spec({ priority: 199 }), "accepted"],
  [
    "every constraint",
    constraints({
      selector: { zone: "a", "example.com/tier": "web" },
      affinity: [
        { key: "zone", op: "In", values: ["a", "b"] },
        { key: "gpu", op: "DoesNotExist" },
        { key: "ssd", op: "Exists", values: [] },
      ],
      tolerations: [{ key: "dedicated", value: "ml" }, { key: "spot" }],
      maxPerMachine: 1,
      spreadBy: "zone",
    }),
    "accepted",
  ],
  ["a 100-entry selector", constraints({ selector: many(100) }), "accepted"],
  ["a gang of every task", spec({ tasks: 3, gang: { minAvailable: 3 } }), "accepted"],
  ["a 253-character name", spec({ name: long(253) }), "accepted"],
  ["extensions", spec({ maxRetries: 0, runtime: { min: "1s", max: "2m" } }), "accepted"],
  ["a named scheduler", spec({ scheduler: "service" }), "accepted"],
  ["the flow scheduler", spec({ scheduler: "flow" }), "accepted"],
  ["data locality", spec({ locality: { label: "rack", values: ["r1", "r2"] } }), "accepted"],
  [
    "locality with 100 values",
    spec({ locality: { label: "rack", values: Array(100).fill("r") } }),
    "accepted",
  ],
  ["locality with no values", spec({ locality: { label: "rack", values: [] } }), "refused"],
  [
    "locality with 101 values",
    spec({ locality: { label: "rack", values: Array(101).fill("r") } }),
    "refused",
  ],
  ["locality without a label", spec({ locality: { values: ["r1"] } }), "refused"],
  ["locality with a bad label key", spec({ locality: { label: "a b", values: ["r1"] } }), "refused"],
  ["locality with a numeric value", spec({ locality: { label: "rack", values: [1] } }), "refused"],
  ["locality with a long value", spec({ locality: { label: "rack", values: [long(254)] } }), "refused"],
  [
    "locality with an unknown field",
    spec({ locality: { label: "rack", values: ["r1"], weight: 1 } }),
    "refused",
  ],
  ["locality as a string", spec({ locality: "rack=r1" }), "refused"],
  ["a disruption budget", spec({ disruptionBudget: { maxUnavailable: 1 } }), "accepted"],
  ["a disruption budget of 0", spec({ disruptionBudget: { maxUnavailable: 0 } }), "accepted"],

  ["a dependency on a job that does not exist", spec({ dependsOn: [{ job: 99999999 }] }), "refused"],
  ["an unknown dependency condition", spec({ dependsOn: [{ job: 1, condition: "afterok" }] }), "refused"],
  ["dependsOn that is not a list", spec({ dependsOn: { job: 1 } }), "refused"],
  ["prePlace that is not a boolean", spec({ prePlace: "yes" }), "refused"],
  ["prePlace with no dependency", spec({ prePlace: true }), "accepted"],
  ["In with no values", constraints({ affinity: [{ key: "zone", op: "In" }] }), "refused"],
  [
    "NotIn with an empty list",
    constraints({ affinity: [{ key: "zone", op: "NotIn", values: [] }] }),
    "refused",
  ],
  [
    "Exists with values",
    constraints({ affinity: [{ key: "zone", op: "Exists", values: ["a"] }] }),
    "refused",
  ],
  [
    "an unknown operator",
    constraints({ affinity: [{ key: "zone", op: "Above", values: ["1"] }] }),
    "refused",
  ],
  ["an unknown term field", constraints({ affinity: [{ key: "zone", op: "Exists", weight: 1 }] }), "refused"],
  ["an empty affinity key", constraints({ affinity: [{ key: "", op: "Exists" }] }), "refused"],
  ["a numeric affinity value", constraints({ affinity: [{ key: "z", op: "In", values: [1] }] }), "refused"],
  ["an empty selector key", constraints({ selector: { "": "a" } }), "refused"],
  ["a selector key with a space", constraints({ selector: { "a b": "a" } }), "refused"],
  [
    "a __proto__ selector key",
    JSON.parse(
      '{"cell":"east","tasks":1,"resources":{"cpu":100},"constraints":{"selector":{"__proto__":"x"}}}',
    ),
    "refused",
  ],
  ["a 101-entry selector", constraints({ selector: many(101) }), "refused"],
  ["a numeric selector value", constraints({ selector: { zone: 1 } }), "refused"],
  ["a 254-character selector value", constraints({ selector: { zone: long(254) } }), "refused"],
  ["a toleration with an empty key", constraints({ tolerations: [{ key: "" }] }), "refused"],
  [
    "a toleration with an unknown field",
    constraints({ tolerations: [{ key: "a", color: "red" }] }),
    "refused",
  ],
  [
    "101 tolerations",
    constraints({ tolerations: Array.from({ length: 101 }, () => ({ key: "a" })) }),
    "refused",
  ],
  ["an empty spreadBy", constraints({ spreadBy: "" }), "refused"],
  ["maxPerMachine 0", constraints({ maxPerMachine: 0 }), "refused"],
  ["maxPerMachine 1.5", constraints({ maxPerMachine: 1.5 }), "refused"],
  ["an unknown constraint", constraints({ nodeName: "m1" }), "refused"],
  ["an unknown field", spec({ color: "red" }), "refused"],
  ["no cell", { tasks: 1, resources: { cpu: 100 } }, "refused"],
  ["an unknown cell", spec({ cell: "nope" }), "refused"],
  ["a numeric cell", spec({ cell: 5 }), "refused"],
  ["0 tasks", spec({ tasks: 0 }), "refused"],
  ["1.5 tasks", spec({ tasks: 1.5 }), "refused"],
  ["tasks as a string", spec({ tasks: "1" }), "refused"],
  ["more tasks than the tenant's maxTasksPerJob", spec({ tasks: 10_001 }), "refused"],
  ["a zero request", spec({ resources: {} }), "refused"],
  ["a request below the minimum", spec({ resources: { cpu: 9, memory: 1024 } }), "refused"],
  ["an unknown resource", spec({ resources: { cpu: 100, tpu: 1 } }), "refused"],
  ["a negative cpu", spec({ resources: { cpu: -1 } }), "refused"],
  ["a fractional number of millicores", spec({ resources: { cpu: 100.5 } }), "refused"],
  ["a quantity that is not one", spec({ resources: { cpu: "lots" } }), "refused"],
  ["a 65-character quantity", spec({ resources: { cpu: `${"0".repeat(62)}100` } }), "refused"],
  ["priority 1000", spec({ priority: 1000 }), "refused"],
  ["an unknown band", spec({ priority: "urgent" }), "refused"],
  ["production without the right", spec({ priority: "production" }), "refused"],
  ["priority 999 without the right", spec({ priority: 999 }), "refused"],
  ["an unknown scheduler", spec({ scheduler: "nope" }), "refused"],
  ["a numeric scheduler", spec({ scheduler: 5 }), "refused"],
  ["a gang larger than the job", spec({ tasks: 2, gang: { minAvailable: 3 } }), "refused"],
  ["an unknown gang field", spec({ gang: { minAvailable: 1, max: 2 } }), "refused"],
  ["a 254-character name", spec({ name: long(254) }), "refused"],
  ["a numeric name", spec({ name: 5 }), "refused"],
  ["a runtime that is not a duration", spec({ runtime: "5x" }), "refused"],
  // Issue 11: the placement vocabulary.
  [
    "quantities as Kubernetes writes them",
    spec({ resources: { cpu: ".5", memory: "1e9", disk: "+2Gi" } }),
    "accepted",
  ],
  ["micro and nano cores", spec({ resources: { cpu: "250000u", memory: "500000000n" } }), "accepted"],
  ["a fractional gpu", spec({ resources: { cpu: 100, gpu: "0.5" } }), "refused"],
  ["a gpu in millis", spec({ resources: { cpu: 100, gpu: "500m" } }), "refused"],
  ["a whole gpu in millis", spec({ resources: { cpu: 100, gpu: "2000m" } }), "accepted"],
  ["a negative quantity", spec({ resources: { cpu: "-1" } }), "refused"],
  [
    "every toleration form",
    constraints({
      tolerations: [
        { key: "dedicated", operator: "Equal", value: "ml", effect: "NoSchedule" },
        { key: "spot", operator: "Exists" },
        { operator: "Exists" },
        { key: "", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 },
        {
          key: "node.kubernetes.io/unreachable",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
        { key: "x", effect: "PreferNoSchedule" },
      ],
    }),
    "accepted",
  ],
  [
    "Exists with a value",
    constraints({ tolerations: [{ key: "a", operator: "Exists", value: "x" }] }),
    "refused",
  ],
  ["no key without Exists", constraints({ tolerations: [{ value: "x" }] }), "refused"],
  ["an empty key with Equal", constraints({ tolerations: [{ key: "", operator: "Equal" }] }), "refused"],
  ["an unknown toleration operator", constraints({ tolerations: [{ key: "a", operator: "In" }] }), "refused"],
  ["an unknown toleration effect", constraints({ tolerations: [{ key: "a", effect: "Never" }] }), "refused"],
  [
    "tolerationSeconds without NoExecute",
    constraints({ tolerations: [{ key: "a", effect: "NoSchedule", tolerationSeconds: 5 }] }),
    "refused",
  ],
  [
    "fractional tolerationSeconds",
    constraints({ tolerations: [{ key: "a", effect: "NoExecute", tolerationSeconds: 1.5 }] }),
    "refused",
  ],
  [
    "operator, Gt and Lt",
    constraints({
      affinity: [
        { key: "zone", operator: "In", values: ["a"] },
        { key: "cores", operator: "Gt", values: ["8"] },
        { key: "gen", op: "Lt", values: ["-3"] },
        { key: "gpu", operator: "DoesNotExist", op: "DoesNotExist" },
      ],
    }),
    "accepted",
  ],
  ["no operator", constraints({ affinity: [{ key: "zone", values: ["a"] }] }), "refused"],
  [
    "operator and op disagree",
    constraints({ affinity: [{ key: "zone", operator: "In", op: "NotIn", values: ["a"] }] }),
    "refused",
  ],
  [
    "Gt with two values",
    constraints({ affinity: [{ key: "c", operator: "Gt", values: ["1", "2"] }] }),
    "refused",
  ],
  ["Gt with no value", constraints({ affinity: [{ key: "c", operator: "Gt" }] }), "refused"],
  ["Lt with a word", constraints({ affinity: [{ key: "c", operator: "Lt", values: ["ten"] }] }), "refused"],
  [
    "Lt past int64",
    constraints({ affinity: [{ key: "c", operator: "Lt", values: ["9223372036854775808"] }] }),
    "refused",
  ],
  [
    "preferredAffinity",
    constraints({
      preferredAffinity: [
        { weight: 1, key: "zone", operator: "In", values: ["a"] },
        { weight: 100, key: "ssd", op: "Exists" },
      ],
    }),
    "accepted",
  ],
  [
    "a weight of 0",
    constraints({ preferredAffinity: [{ weight: 0, key: "z", operator: "Exists" }] }),
    "refused",
  ],
  [
    "a weight of 101",
    constraints({ preferredAffinity: [{ weight: 101, key: "z", operator: "Exists" }] }),
    "refused",
  ],
  ["no weight", constraints({ preferredAffinity: [{ key: "z", operator: "Exists" }] }), "refused"],
  [
    "topologySpread",
    constraints({
      topologySpread: [
        { topologyKey: "zone", maxSkew: 1, whenUnsatisfiable: "DoNotSchedule" },
        { topologyKey: "machine", maxSkew: 2, whenUnsatisfiable: "ScheduleAnyway" },
        { topologyKey: "rack", maxSkew: 3 },
      ],
    }),
    "accepted",
  ],
  ["no maxSkew", constraints({ topologySpread: [{ topologyKey: "zone" }] }), "refused"],
  ["maxSkew 0", constraints({ topologySpread: [{ topologyKey: "zone", maxSkew: 0 }] }), "refused"],
  ["no topologyKey", constraints({ topologySpread: [{ maxSkew: 1 }] }), "refused"],
  [
    "an unknown whenUnsatisfiable",
    constraints({ topologySpread: [{ topologyKey: "zone", maxSkew: 1, whenUnsatisfiable: "Never" }] }),
    "refused",
  ],
  [
    "labels, job affinity and anti-affinity",
    spec({
      labels: { app: "web", tier: "front" },
      constraints: {
        jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }],
        jobAntiAffinity: [{ selector: { app: "web" }, topologyKey: "machine" }],
      },
    }),
    "accepted",
  ],
  ["a numeric job label", spec({ labels: { app: 1 } }), "refused"],
  ["a job label key with a space", spec({ labels: { "a b": "x" } }), "refused"],
  ["a term with no selector", constraints({ jobAntiAffinity: [{ topologyKey: "zone" }] }), "refused"],
  [
    "a term with an unknown field",
    constraints({ jobAffinity: [{ selector: {}, topologyKey: "zone", namespaces: [] }] }),
    "refused",
  ],
  ["host ports", spec({ ports: [80, 8080, 65535] }), "accepted"],
  ["port 0", spec({ ports: [0] }), "refused"],
  ["port 65536", spec({ ports: [65536] }), "refused"],
  ["a port twice", spec({ ports: [80, 80] }), "refused"],
  ["a port as a string", spec({ ports: ["80"] }), "refused"],
  ["maxRetries 101", spec({ maxRetries: 101 }), "refused"],
  ["a negative disruption budget", spec({ disruptionBudget: { maxUnavailable: -1 } }), "refused"],
  ["a fractional disruption budget", spec({ disruptionBudget: { maxUnavailable: 0.5 } }), "refused"],
  ["a disruption budget as a percentage", spec({ disruptionBudget: { maxUnavailable: "25%" } }), "refused"],
  ["an unknown disruption budget field", spec({ disruptionBudget: { minAvailable: 1 } }), "refused"],
  ["a disruption budget that is not an object", spec({ disruptionBudget: 1 }), "refused"],
  ["the rebalancer as a job's scheduler", spec({ scheduler: "rebalance" }), "refused"],
];

const resources = { cpu: "4", memory: "8Gi" };
const MACHINES: [string, Record<string, unknown>, Verdict][] = [
  ["a machine", { resources }, "accepted"],
  [
    "labels, taints and a task cap",
    {
      resources,
      labels: { zone: "b", "example.com/rack": "r1" },
      taints: [{ key: "dedicated", value: "ml" }],
      maxTasks: 500,
    },
    "accepted",
  ],
  ["100 labels", { resources, labels: many(100) }, "accepted"],
  ["an empty label key", { resources, labels: { "": "a" } }, "refused"],
  ["a label key with a space", { resources, labels: { "a b": "a" } }, "refused"],
  ["a __proto__ label key", JSON.parse('{"resources":{"cpu":"4"},"labels":{"__proto__":"x"}}'), "refused"],
  ["101 labels", { resources, labels: many(101) }, "refused"],
  ["a numeric label value", { resources, labels: { zone: 1 } }, "refused"],
  ["a 254-character label value", { resources, labels: { zone: long(254) } }, "refused"],
  ["a taint with no key", { resources, taints: [{ value: "x" }] }, "refused"],
  ["a taint with an empty key", { resources, taints: [{ key: "" }] }, "refused"],
  ["a taint with an unknown field", { resources, taints: [{ key: "a", color: "red" }] }, "refused"],
  [
    "taints with every effect",
    {
      resources,
      taints: [
        { key: "a", effect: "NoSchedule" },
        { key: "b", value: "x", effect: "PreferNoSchedule" },
        { key: "c", effect: "NoExecute" },
      ],
    },
    "accepted",
  ],
  ["a taint with an unknown effect", { resources, taints: [{ key: "a", effect: "NoRun" }] }, "refused"],
  ["a taint with a numeric effect", { resources, taints: [{ key: "a", effect: 1 }] }, "refused"],
  ["a fractional gpu", { resources: { cpu: "4", gpu: "0.5" } }, "refused"],
  ["quantities Kubernetes takes", { resources: { cpu: "+1e1", memory: ".5Gi", disk: "1e9" } }, "accepted"],
  ["101 taints", { resources, taints: Array.from({ length: 101 }, () => ({ key: "a" })) }, "refused"],
  ["maxTasks 0", { resources, maxTasks: 0 }, "refused"],
  ["maxTasks 100001", { resources, maxTasks: 100_001 }, "refused"],
  ["an unknown resource", { resources: { cpu: "4", tpu: 1 } }, "refused"],
];

/** Runs `sql` in a transaction that is rolled back: accepted, or refused with OM422. */
async function sqlVerdict(sql: string, params: unknown[]): Promise<Verdict | string> {
  const client = await api.db.pool.connect();
  try {
    await client.query("begin");
    await client.query(sql, params);
    return "accepted";
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === "OM422" ? "refused" : `error ${code}: ${(error as Error).message}`;
  } finally {
    await client.query("rollback");
    client.release();
  }
}

function httpVerdict(status: number, text: string): Verdict | string {
  if (status === 201 || status === 200) return "accepted";
  return status === 422 ? "refused" : `HTTP ${status}: ${text}`;
}

describe("a job spec gets the same verdict over HTTP and in SQL", () => {
  it.each(JOBS)("%s", async (_what, body, expected) => {
    const http = await api.call("POST", "/v1/jobs", { token, body });
    if (http.status === 201) await api.call("DELETE", `/v1/jobs/${http.body.id}`, { token });
    const sql = await sqlVerdict("select omega.submit_job('acme', $1::jsonb)", [JSON.stringify(body)]);
    expect({ http: httpVerdict(http.status, http.text), sql }).toEqual({ http: expected, sql: expected });
  });
});

describe("a machine gets the same verdict over HTTP and in SQL", () => {
  it.each(MACHINES)("%s", async (_what, body, expected) => {
    const sql = await sqlVerdict("select omega.put_machine('east', 'm-sql', $1, $2, $3, $4)", [
      JSON.stringify(body.resources),
      JSON.stringify(body.labels ?? {}),
      JSON.stringify(body.taints ?? []),
      body.maxTasks ?? null,
    ]);
    const http = await api.call("PUT", "/v1/cells/east/machines/m-http", { body });
    expect({ http: httpVerdict(http.status, http.text), sql }).toEqual({ http: expected, sql: expected });
  });
});
