// The runs page: runs newest first, filtered by workflow and status, a
// page at a time (the API's keyset cursor in the URL), their status kept
// live by reading the page again every 2 seconds while the tab is seen.
"use strict";

(() => {
  const { api, el, badge, timeElement, took } = window.idflow;
  const REFRESH_MS = 2000;
  const PAGE_SIZE = 25;
  const params = new URLSearchParams(location.search);
  const filters = {
    workflow: params.get("workflow") || "",
    status: params.get("status") || "",
    cursor: params.get("cursor") || "",
  };
  const body = document.querySelector("#runs tbody");
  const live = document.getElementById("live");
  const problem = document.getElementById("problem");

  document.getElementById("status").value = filters.status;
  for (const select of document.querySelectorAll("#filters select")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }

  function pageUrl(cursor) {
    const query = new URLSearchParams();
    if (filters.workflow) query.set("workflow", filters.workflow);
    if (filters.status) query.set("status", filters.status);
    if (cursor) query.set("cursor", cursor);
    const text = query.toString();
    return "/ui" + (text ? "?" + text : "");
  }

  async function loadWorkflows() {
    const select = document.getElementById("workflow");
    try {
      const { workflows } = await api("/workflows");
      const names = new Set(workflows.map((w) => w.name));
      if (filters.workflow) names.add(filters.workflow);
      for (const name of [...names].sort()) {
        select.append(el("option", { value: name, text: name }));
      }
    } catch (_) {
      if (filters.workflow) select.append(el("option", { value: filters.workflow, text: filters.workflow }));
    }
    select.value = filters.workflow;
  }

  function row(run) {
    const end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
    const link = el("a", { class: "run-link", href: "/ui/runs/" + encodeURIComponent(run.run_id) },
      run.workflow, el("span", { class: "run-id", text: run.run_id.slice(0, 13) + "…" }));
    return el("tr", { "data-run-id": run.run_id, "data-status": run.status },
      el("td", {}, link),
      el("td", {}, badge(run.status), run.cancel_requested && !window.idflow.finished(run.status)
        ? el("span", { class: "help", text: " cancelling" }) : null),
      el("td", {}, timeElement(run.created_at)),
      el("td", { class: "wide", text: took(end - Date.parse(run.created_at)) }));
  }

  async function refresh() {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const name of ["workflow", "status", "cursor"]) {
      if (filters[name]) query.set(name, filters[name]);
    }
    try {
      const page = await api("/runs?" + query);
      body.replaceChildren(...page.runs.map(row));
      document.getElementById("empty").hidden = page.runs.length > 0;
      const older = document.getElementById("older");
      older.hidden = !page.next_cursor;
      if (page.next_cursor) older.href = pageUrl(page.next_cursor);
      const newest = document.getElementById("newest");
      newest.hidden = !filters.cursor;
      newest.href = pageUrl("");
      problem.hidden = true;
      live.textContent = "Updated " + new Date().toLocaleTimeString() + "; kept up to date every 2 seconds.";
      document.body.dataset.loaded = "true";
    } catch (error) {
      if (error.status === 401) return;
      problem.textContent = "The runs could not be read: " + error.message;
      problem.hidden = false;
    }
  }

  async function keepLive() {
    if (!document.hidden) await refresh();
    setTimeout(keepLive, REFRESH_MS);
  }

  loadWorkflows();
  keepLive();
})();
