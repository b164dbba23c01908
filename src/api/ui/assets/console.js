// The omega web console: hash-routed views over the /v1 API, kept live by one server-sent event
// stream (read with fetch, since EventSource cannot send an Authorization header).
import { $, api, badge, cpu, esc, eventItem, mem, state } from "./common.js";
import { views } from "./views.js";

// ---- sign in ------------------------------------------------------------------------------
async function signIn(token) {
  state.token = token;
  const tenants = await fetch("/v1/tenants", { headers: { authorization: `Bearer ${token}` } });
  if (tenants.status === 401) throw new Error("That token is not valid.");
  state.admin = tenants.status === 200;
  localStorage.setItem("omega.token", token);
  $("#whoami").textContent = state.admin ? "admin" : "tenant";
  $("#login").hidden = true;
  $("#app").hidden = false;
  follow();
  pollSchedulers();
  render();
}

function signOut(message = "") {
  localStorage.removeItem("omega.token");
  state.token = null;
  state.stream?.abort();
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
}

$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("#token").value.trim()).catch((error) => {
    $("#login-error").textContent = error.message;
  });
});
$("#signout").addEventListener("click", () => signOut());
state.onUnauthorized = signOut;

// ---- live events --------------------------------------------------------------------------
async function follow() {
  let last;
  for (;;) {
    if (!state.token) return;
    const controller = new AbortController();
    state.stream = controller;
    try {
      const res = await fetch("/v1/events?follow=true", {
        headers: { authorization: `Bearer ${state.token}`, ...(last ? { "last-event-id": last } : {}) },
        signal: controller.signal,
      });
      $("#live").classList.add("on");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = /^id: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (id) last = id;
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch {
      if (controller.signal.aborted) return;
    }
    $("#live").classList.remove("on");
    await new Promise((r) => setTimeout(r, 2000));
  }
}

let refresh;
function onEvent(event) {
  state.events.unshift(event);
  state.events.length = Math.min(state.events.length, 300);
  const list = $("#timeline");
  if (list && (!list.dataset.job || Number(list.dataset.job) === event.jobId)) {
    list.insertAdjacentHTML("afterbegin", eventItem(event, true));
  }
  // Re-read the view's data at most every half second, however many events arrive.
  clearTimeout(refresh);
  refresh = setTimeout(() => render({ quiet: true }), 500);
}

async function pollSchedulers() {
  let previous;
  while (state.token) {
    try {
      const { schedulers } = await api("/v1/schedulers");
      const now = Date.now();
      for (const s of schedulers) {
        const before = previous?.get(s.name);
        if (before) {
          const dt = (now - before.at) / 1000;
          const plans = s.stats.plans - before.plans;
          const h = state.schedHistory.get(s.name) ?? [];
          h.push({
            plansPerSec: plans / dt,
            placementsPerSec: (s.stats.placementsCommitted - before.placed) / dt,
            conflict: plans > 0 ? Math.min(1, (s.stats.conflicts - before.conflicts) / plans) : 0,
          });
          if (h.length > 60) h.shift();
          state.schedHistory.set(s.name, h);
        }
      }
      previous = new Map(
        schedulers.map((s) => [
          s.name,
          {
            at: now,
            plans: s.stats.plans,
            placed: s.stats.placementsCommitted,
            conflicts: s.stats.conflicts,
          },
        ]),
      );
      if (location.hash.startsWith("#/schedulers")) render({ quiet: true });
    } catch {}
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---- routing ------------------------------------------------------------------------------
// One render at a time; a request that comes meanwhile (a click, a burst of events) runs once after it.
let rendering = false;
let again;
async function render({ quiet = false } = {}) {
  if (!state.token) return;
  if (rendering) {
    again = { quiet: quiet && (again?.quiet ?? true) };
    return;
  }
  rendering = true;
  const [path] = location.hash.replace(/^#/, "").split("?");
  const parts = (path || "/").split("/").filter(Boolean);
  const [view, arg] =
    parts[0] === "jobs" && parts[1]
      ? ["job", parts[1]]
      : parts[0] === "cells" && parts[1]
        ? ["cell", parts[1]]
        : [parts[0] ?? "overview"];
  for (const a of document.querySelectorAll("aside nav a"))
    a.classList.toggle(
      "active",
      a.dataset.nav === (view === "job" ? "jobs" : view === "cell" ? "overview" : view),
    );
  try {
    const html = await (views[view] ?? views.overview)(decodeURIComponent(arg ?? ""));
    // A live refresh must not wipe what the user is typing or has open.
    if (quiet && document.activeElement?.dataset?.filter) return;
    const open = [...document.querySelectorAll("tr[data-claims]:not([hidden])")].map((r) => r.dataset.claims);
    $("#view").innerHTML = html;
    for (const name of open) toggleClaims(name);
  } catch (error) {
    if (!quiet) $("#view").innerHTML = `<div class="empty error">${esc(error.message)}</div>`;
  } finally {
    rendering = false;
    if (again) {
      const next = again;
      again = undefined;
      render(next);
    }
  }
}

async function toggleClaims(name) {
  const row = document.querySelector(`tr[data-claims="${CSS.escape(name)}"]`);
  if (!row || !state.admin) return;
  row.hidden = !row.hidden;
  if (row.hidden) return;
  const cell = decodeURIComponent(location.hash.split("/")[2] ?? "");
  const claims = await api(
    `/v1/cells/${encodeURIComponent(cell)}/machines/${encodeURIComponent(name)}/claims`,
  );
  const items = claims.tasks ?? [];
  row.firstElementChild.innerHTML = items.length
    ? items
        .map(
          (c) =>
            `<a href="#/jobs/${c.jobId}">job ${c.jobId}</a> task ${c.taskIndex} ${badge(c.state)} <span class="muted">${cpu(c.resources.cpu)} cpu · ${mem(c.resources.memory)}</span>`,
        )
        .join(" &nbsp;·&nbsp; ")
    : '<span class="muted">No claims.</span>';
}

document.addEventListener("click", (event) => {
  const dim = event.target.closest("[data-dim]");
  if (dim) {
    state.dim = dim.dataset.dim;
    render();
  }
  const machine = event.target.closest("tr[data-machine]");
  if (machine) toggleClaims(machine.dataset.machine);
  const cancel = event.target.closest("#cancel-job");
  if (cancel && confirm(`Cancel job ${cancel.dataset.id}?`))
    api(`/v1/jobs/${cancel.dataset.id}`, { method: "DELETE" }).then(() => render());
});
document.addEventListener("change", (event) => {
  const filter = event.target.dataset?.filter;
  if (!filter) return;
  const params = new URLSearchParams();
  for (const el of document.querySelectorAll("[data-filter]"))
    if (el.value) params.set(el.dataset.filter, el.value);
  location.hash = `#/jobs${params.size ? `?${params}` : ""}`;
});
window.addEventListener("hashchange", () => render());

if (state.token) signIn(state.token).catch(() => signOut());
else signOut();
