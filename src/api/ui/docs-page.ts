/**
 * GET /docs: the OpenAPI document rendered on the server as one page — operations grouped by tag,
 * each with its parameters, body and responses, then the schemas. No script and no CDN: it works
 * offline and behind any proxy.
 */
import { openapi } from "../openapi.ts";
import { escapeHtml as e } from "./html.ts";

type Json = Record<string, unknown>;

function schemaText(schema: unknown): string {
  const ref = (schema as Json | undefined)?.$ref;
  if (typeof ref === "string") {
    const name = ref.split("/").pop() ?? "";
    return `<a href="#schema-${e(name)}">${e(name)}</a>`;
  }
  return `<code>${e(JSON.stringify(schema ?? {}))}</code>`;
}

function operationHtml(path: string, method: string, op: Json): string {
  const params = (op.parameters as Json[] | undefined) ?? [];
  const rows = params
    .map(
      (p) =>
        `<tr><td><code>${e(String(p.name))}</code></td><td>${e(String(p.in))}</td><td>${p.required ? "yes" : ""}</td><td>${e(String(p.description ?? ""))}</td></tr>`,
    )
    .join("");
  const body = op.requestBody as Json | undefined;
  const bodySchema = (body?.content as Json | undefined)?.["application/json"] as Json | undefined;
  const responses = Object.entries((op.responses as Json) ?? {})
    .map(([status, r]) => {
      const response = r as Json;
      const refName = typeof response.$ref === "string" ? response.$ref.split("/").pop() : undefined;
      const description = refName
        ? String(((openapi.components.responses as Json)[refName] as Json).description)
        : String(response.description ?? "");
      const content = response.content as Json | undefined;
      const schema = (content?.["application/json"] as Json | undefined)?.schema;
      return `<li><span class="status s${status[0]}">${e(status)}</span> ${e(description)} ${schema ? schemaText(schema) : ""}</li>`;
    })
    .join("");
  const auth = String(op["x-omega-auth"]);
  return `<section class="op" id="${e(String(op.operationId))}">
  <h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${e(path)}</code></h3>
  <p>${e(String(op.summary))} <span class="auth">${auth === "none" ? "no token" : `token: ${e(auth)}`}</span></p>
  ${rows ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th></th></tr>${rows}</table>` : ""}
  ${bodySchema ? `<p>Body: ${schemaText(bodySchema.schema)}</p>` : ""}
  <ul class="responses">${responses}</ul>
</section>`;
}

let cached: string | undefined;

export function docsPage(): string {
  if (cached) return cached;
  const byTag = new Map<string, string[]>();
  const nav = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(openapi.paths as Json)) {
    for (const [method, op] of Object.entries(methods as Json)) {
      const o = op as Json;
      const tag = (o.tags as string[])[0] ?? "Other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), operationHtml(path, method, o)]);
      nav.set(tag, [
        ...(nav.get(tag) ?? []),
        `<a href="#${e(String(o.operationId))}"><span class="method ${method}">${method.toUpperCase()}</span> ${e(path)}</a>`,
      ]);
    }
  }
  const tags = openapi.tags.filter((t) => byTag.has(t.name));
  const schemas = Object.entries(openapi.components.schemas)
    .map(
      ([name, s]) =>
        `<section id="schema-${e(name)}"><h3>${e(name)}</h3><pre>${e(JSON.stringify(s, null, 2))}</pre></section>`,
    )
    .join("");
  cached = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>omega-scheduler API</title><link rel="stylesheet" href="/ui/assets/docs.css"></head>
<body><nav><h1><a href="/ui">omega</a> API</h1><p><a href="/openapi.json">openapi.json</a></p>
${tags.map((t) => `<h2>${e(t.name)}</h2>${(nav.get(t.name) ?? []).join("")}`).join("")}
<h2><a href="#schemas">Schemas</a></h2></nav>
<main><h1>${e(openapi.info.title)} <small>${e(openapi.info.version)}</small></h1><p>${e(openapi.info.description)}</p>
<p>Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>: the admin token, a tenant's token, or a cell's agent token.</p>
${tags.map((t) => `<h2 id="tag-${e(t.name)}">${e(t.name)}</h2><p>${e(t.description)}</p>${(byTag.get(t.name) ?? []).join("")}`).join("")}
<h2 id="schemas">Schemas</h2>${schemas}</main></body></html>`;
  return cached;
}
