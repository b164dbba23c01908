// Shared by the console's modules: the session, the API call, and the small HTML helpers.
export const $ = (sel) => document.querySelector(sel);
export const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const state = {
  token: localStorage.getItem("omega.token"),
  admin: false,
  events: [],
  schedHistory: new Map(),
  dim: "cpu",
};

export async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: {
      authorization: `Bearer ${state.token}`,
      ...(options.body ? { "content-type": "application/json" } : {}),
    },
  });
  if (res.status === 401) {
    state.onUnauthorized?.("That token is not valid.");
    throw new Error("unauthorized");
  }
  const body = res.status === 204 ? undefined : await res.json();
  if (!res.ok) throw new Error(body?.detail ?? res.statusText);
  return body;
}

export const badge = (s) => `<span class="badge ${esc(s)}">${esc(s)}</span>`;
export const cpu = (m) => (m % 1000 === 0 ? `${m / 1000}` : `${(m / 1000).toFixed(1)}`);
export const mem = (mib) => (mib >= 1024 ? `${(mib / 1024).toFixed(mib % 1024 ? 1 : 0)} GiB` : `${mib} MiB`);
export const pct = (u, c) => (c > 0 ? Math.min(100, Math.round((100 * u) / c)) : 0);
export function bar(used, capacity) {
  const p = pct(used, capacity);
  return `<div class="bar ${p >= 90 ? "full" : p >= 70 ? "hot" : ""}"><i style="width:${p}%"></i></div>`;
}
export function usage(label, used, capacity, fmt) {
  return `<div class="usage"><span>${label}</span>${bar(used, capacity)}<span>${fmt(used)} / ${fmt(capacity)}</span></div>`;
}
export function heat(p) {
  // green → amber → red as a machine fills; pale when idle.
  const hue = 150 - p * 1.5;
  return `hsl(${hue}, ${p === 0 ? 15 : 70}%, ${p === 0 ? 90 : 75 - p * 0.25}%)`;
}
export function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
}
export function eventItem(e, fresh = false) {
  const what =
    e.taskIndex === null
      ? `job <a href="#/jobs/${e.jobId}">${e.jobId}</a>`
      : `<a href="#/jobs/${e.jobId}">${e.jobId}</a> task ${e.taskIndex}`;
  const where = e.machine ? ` on <b>${esc(e.machine)}</b>` : "";
  const why = e.reason ? ` <span class="reason">${esc(e.reason)}</span>` : "";
  return `<li class="${fresh ? "new" : ""}"><span class="muted mono">${new Date(e.at).toLocaleTimeString()}</span>${badge(e.kind)}<span>${what}${where}${why}</span></li>`;
}
export function crumbs(...parts) {
  $("#crumbs").innerHTML = parts
    .map(([label, href]) => (href ? `<a href="${href}">${esc(label)}</a>` : `<b>${esc(label)}</b>`))
    .join('<span class="sep">/</span>');
}
