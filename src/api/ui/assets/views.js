// The console's views: each reads the API and returns the HTML of the main area.
import { ago, api, badge, bar, cpu, crumbs, esc, eventItem, heat, mem, pct, state, usage } from "./common.js";

export const views = {
  async overview() {
    crumbs(["Cells"]);
    const { cells } = await api("/v1/cells");
    const machines = await Promise.all(
      cells.map((c) => api(`/v1/cells/${encodeURIComponent(c.name)}/machines`)),
    );
    const dim = state.dim;
    const seg = ["cpu", "memory", "gpu"]
      .map((d) => `<button data-dim="${d}" class="${d === dim ? "on" : ""}">${d}</button>`)
      .join("");
    const cards = cells.map((c, i) => {
      const ms = machines[i].machines;
      const cellsHtml = ms
        .map((m) => {
          const p = pct(m.used[dim], m.capacity[dim]);
          return `<a href="#/cells/${encodeURIComponent(c.name)}" style="background:${m.state === "up" ? heat(p) : "#d7dae0"}" title="${esc(m.name)} (${esc(m.state)}): ${dim} ${p}%, ${m.tasks} tasks"></a>`;
        })
        .join("");
      return `<div class="card"><h2 style="margin-top:0"><a href="#/cells/${encodeURIComponent(c.name)}">${esc(c.name)}</a>
        <span class="muted" style="font-weight:400;font-size:13px">${c.machines.up}/${c.machines.total} machines up · ${c.tasks} tasks</span></h2>
        ${usage("cpu", c.used.cpu, c.capacity.cpu, cpu)}${usage("memory", c.used.memory, c.capacity.memory, mem)}${usage("gpu", c.used.gpu, c.capacity.gpu, String)}
        <div class="heatmap" data-cell="${esc(c.name)}">${cellsHtml}</div></div>`;
    });
    const pending = await api("/v1/jobs?state=pending&limit=1000");
    return `<h1 class="title">Cells</h1>
      <div class="stats"><div class="stat"><b>${cells.length}</b><span>cells</span></div>
      <div class="stat"><b>${machines.reduce((n, m) => n + m.machines.length, 0)}</b><span>machines</span></div>
      <div class="stat"><b>${cells.reduce((n, c) => n + c.tasks, 0)}</b><span>tasks holding claims</span></div>
      <div class="stat"><b>${pending.jobs.length}</b><span>pending jobs</span></div></div>
      <div class="toolbar"><span class="muted">Heatmap of</span><span class="seg">${seg}</span></div>
      <div class="grid">${cards.join("") || '<div class="empty">No cells yet.</div>'}</div>`;
  },

  async cell(name) {
    crumbs(["Cells", "#/"], [name]);
    const { machines } = await api(`/v1/cells/${encodeURIComponent(name)}/machines`);
    const rows = machines
      .map(
        (
          m,
        ) => `<tr class="clickable" data-machine="${esc(m.name)}"><td><b>${esc(m.name)}</b></td><td>${badge(m.state)}</td>
      <td>${bar(m.used.cpu, m.capacity.cpu)}<span class="muted">${cpu(m.used.cpu)} / ${cpu(m.capacity.cpu)}</span></td>
      <td>${bar(m.used.memory, m.capacity.memory)}<span class="muted">${mem(m.used.memory)} / ${mem(m.capacity.memory)}</span></td>
      <td>${m.used.gpu} / ${m.capacity.gpu}</td><td>${m.tasks}</td>
      <td class="mono">${esc(
        Object.entries(m.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(" "),
      )}${m.taints.length ? ` <span class="badge draining">tainted</span>` : ""}</td></tr>
      <tr hidden data-claims="${esc(m.name)}"><td colspan="7"></td></tr>`,
      )
      .join("");
    return `<h1 class="title">Cell ${esc(name)}</h1>
      <table><thead><tr><th>Machine</th><th>State</th><th>CPU</th><th>Memory</th><th>GPU</th><th>Tasks</th><th>Labels</th></tr></thead><tbody>${rows}</tbody></table>
      <p class="muted">${state.admin ? "Click a machine to see its claims." : ""}</p>`;
  },

  async jobs() {
    crumbs(["Jobs"]);
    const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
    const query = new URLSearchParams({ limit: "1000" });
    for (const k of ["state", "cell", "tenant"]) if (params.get(k)) query.set(k, params.get(k));
    const [{ jobs }, { cells }] = await Promise.all([api(`/v1/jobs?${query}`), api("/v1/cells")]);
    const opt = (v, cur) =>
      `<option ${v === cur ? "selected" : ""} value="${esc(v)}">${esc(v || "any")}</option>`;
    const rows = [...jobs]
      .sort((a, b) => b.id - a.id)
      .map((j) => {
        const placed = j.tasks - j.pendingTasks;
        return `<tr class="clickable" data-job="${j.id}" onclick="location.hash='#/jobs/${j.id}'"><td><a href="#/jobs/${j.id}">${j.id}</a></td><td>${esc(j.name || "—")}</td>
        <td class="state">${badge(j.state)}</td><td>${esc(j.tenant)}</td><td>${esc(j.cell)}</td><td>${j.priority} <span class="muted">${esc(j.band)}</span></td>
        <td>${placed}/${j.tasks}</td><td class="muted">${ago(j.createdAt)}</td></tr>`;
      })
      .join("");
    return `<h1 class="title">Jobs</h1>
      <div class="toolbar">
        <label>State <select data-filter="state">${["", "pending", "placed", "running", "succeeded", "failed", "cancelled"].map((s) => opt(s, params.get("state") ?? "")).join("")}</select></label>
        <label>Cell <select data-filter="cell">${["", ...cells.map((c) => c.name)].map((s) => opt(s, params.get("cell") ?? "")).join("")}</select></label>
        ${state.admin ? `<label>Tenant <input data-filter="tenant" value="${esc(params.get("tenant") ?? "")}" placeholder="any" size="10"></label>` : ""}
      </div>
      ${rows ? `<table id="jobs"><thead><tr><th>ID</th><th>Name</th><th>State</th><th>Tenant</th><th>Cell</th><th>Priority</th><th>Placed</th><th>Submitted</th></tr></thead><tbody>${rows}</tbody></table>` : '<div class="empty">No jobs match.</div>'}`;
  },

  async job(id) {
    crumbs(["Jobs", "#/jobs"], [`Job ${id}`]);
    const [job, { events }] = await Promise.all([api(`/v1/jobs/${id}`), api(`/v1/jobs/${id}/events`)]);
    const colors = {
      pending: "#f2a100",
      placed: "#1563ff",
      running: "#25ba81",
      succeeded: "#127a52",
      failed: "#c73445",
      cancelled: "#9aa1ad",
    };
    const counts = Object.entries(job.taskCounts).filter(([, n]) => n > 0);
    const reasons = job.pendingReasons
      .map((r) => `<tr><td><b>${r.tasks}</b></td><td class="reason">${esc(r.reason)}</td></tr>`)
      .join("");
    const placements = job.placements
      .slice(0, 200)
      .map(
        (p) =>
          `<tr><td>${p.taskIndex}</td><td><b>${esc(p.machine)}</b></td><td class="muted">${ago(p.placedAt)}</td></tr>`,
      )
      .join("");
    const cancel = ["succeeded", "failed", "cancelled"].includes(job.state)
      ? ""
      : `<button class="danger small" id="cancel-job" data-id="${job.id}">Cancel</button>`;
    return `<h1 class="title">Job ${job.id} ${esc(job.name)} <span id="job-state">${badge(job.state)}</span> ${cancel}</h1>
      <div class="stats"><div class="stat"><b>${esc(job.tenant)}</b><span>tenant</span></div><div class="stat"><b>${esc(job.cell)}</b><span>cell</span></div>
      <div class="stat"><b>${job.priority}</b><span>${esc(job.band)} priority</span></div><div class="stat"><b>${esc(job.scheduler)}</b><span>scheduler</span></div>
      <div class="stat"><b>${cpu(job.resources.cpu)} cpu · ${mem(job.resources.memory)}${job.resources.gpu ? ` · ${job.resources.gpu} gpu` : ""}</b><span>per task</span></div></div>
      <h2>Tasks (${job.tasks})</h2>
      <div class="counts">${counts.map(([s, n]) => `<i style="width:${(100 * n) / job.tasks}%;background:${colors[s]}" title="${s}: ${n}"></i>`).join("")}</div>
      <div class="legend">${counts.map(([s, n]) => `<span><i style="background:${colors[s]}"></i>${s} ${n}</span>`).join("")}</div>
      ${reasons ? `<h2>Why tasks are pending</h2><table id="pending-reasons"><thead><tr><th>Tasks</th><th>Reason</th></tr></thead><tbody>${reasons}</tbody></table>` : ""}
      <div class="grid" style="margin-top:8px"><div><h2>Placements</h2>${placements ? `<table><thead><tr><th>Task</th><th>Machine</th><th>Placed</th></tr></thead><tbody>${placements}</tbody></table>` : '<div class="empty">None yet.</div>'}</div>
      <div><h2>Events</h2><ul class="timeline" id="timeline" data-job="${job.id}">${[...events]
        .reverse()
        .map((e) => eventItem(e))
        .join("")}</ul></div></div>`;
  },

  async events() {
    crumbs(["Events"]);
    const { events } = await api("/v1/events?limit=200");
    const known = new Set(state.events.map((e) => e.id));
    const merged = [...state.events, ...events.reverse().filter((e) => !known.has(e.id))].slice(0, 300);
    return `<h1 class="title">Events <span class="muted" style="font-size:13px;font-weight:400">live, newest first</span></h1>
      <ul class="timeline" id="timeline">${merged.map((e) => eventItem(e)).join("")}</ul>`;
  },

  async schedulers() {
    crumbs(["Schedulers"]);
    const { schedulers } = await api("/v1/schedulers");
    const cards = schedulers.map((s) => {
      const h = state.schedHistory.get(s.name) ?? [];
      return `<div class="card"><h2 style="margin-top:0">${esc(s.name)}</h2>
        <div class="stats"><div class="stat"><b>${s.stats.plans}</b><span>plans</span></div><div class="stat"><b>${s.stats.placementsCommitted}</b><span>placements</span></div>
        <div class="stat"><b>${(100 * s.stats.conflictFraction).toFixed(1)}%</b><span>conflict fraction</span></div><div class="stat"><b>${s.stats.avgCommitMs.toFixed(1)} ms</b><span>avg commit</span></div></div>
        ${chart(h, [
          ["plansPerSec", "#1563ff", "plans/s"],
          ["placementsPerSec", "#25ba81", "placements/s"],
        ])}
        ${chart(h, [["conflict", "#c73445", "conflict fraction"]], 1)}</div>`;
    });
    return `<h1 class="title">Schedulers <span class="muted" style="font-size:13px;font-weight:400">last 2 minutes, every 2 s</span></h1><div class="grid">${cards.join("")}</div>`;
  },

  async quotas() {
    crumbs(["Quotas"]);
    const { quotas } = await api("/v1/quotas");
    const rows = quotas
      .map(
        (q) => `<tr><td><b>${esc(q.tenant)}</b></td><td>${esc(q.cell)}</td><td>${esc(q.band)}</td>
      <td>${usage("", q.used.cpu, q.limit.cpu, cpu)}</td><td>${usage("", q.used.memory, q.limit.memory, mem)}</td><td>${usage("", q.used.gpu, q.limit.gpu, String)}</td></tr>`,
      )
      .join("");
    return `<h1 class="title">Quotas</h1>${rows ? `<table><thead><tr><th>Tenant</th><th>Cell</th><th>Band</th><th>CPU</th><th>Memory</th><th>GPU</th></tr></thead><tbody>${rows}</tbody></table>` : '<div class="empty">No quotas are set: no tenant is limited.</div>'}`;
  },
};

function chart(history, series, max) {
  if (history.length < 2) return '<div class="muted">Collecting samples…</div>';
  const top = max ?? Math.max(1, ...history.flatMap((p) => series.map(([k]) => p[k])));
  const x = (i) => (i / (history.length - 1)) * 400;
  const lines = series
    .map(
      ([k, color]) =>
        `<polyline stroke="${color}" points="${history.map((p, i) => `${x(i).toFixed(1)},${(100 - (p[k] / top) * 95).toFixed(1)}`).join(" ")}"/>`,
    )
    .join("");
  const legend = series
    .map(
      ([k, color, label]) =>
        `<span><i style="background:${color}"></i>${label} ${history[history.length - 1][k].toFixed(k === "conflict" ? 2 : 1)}</span>`,
    )
    .join("");
  return `<svg class="chart" viewBox="0 0 400 100" preserveAspectRatio="none">${lines}</svg><div class="legend">${legend}<span>max ${top.toFixed(max ? 0 : 1)}</span></div>`;
}
