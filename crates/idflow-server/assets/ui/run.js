// A run's page: the graph of its pinned workflow coloured by step state,
// its steps, the timeline of its attempts and waits, its inputs, outputs
// and errors (as the API gives them: already redacted), and a cancel
// button. Kept live by the run's Server-Sent Events until it ends.
"use strict";

(() => {
  const { api, el, svg, badge, when, took, finished, STATES } = window.idflow;
  const runId = decodeURIComponent(location.pathname.split("/").pop() || "");
  const path = "/runs/" + encodeURIComponent(runId);
  const problem = document.getElementById("problem");
  const cancelButton = document.getElementById("cancel");
  const cancelNote = document.getElementById("cancel-note");

  let run = null;       // GET /runs/{id}
  let plan = null;      // GET /runs/{id}/graph
  let timeline = [];    // GET /runs/{id}/timeline entries
  let events = null;    // the EventSource while the run goes on

  function showProblem(text) {
    problem.textContent = text;
    problem.hidden = false;
  }

  function stepOf(id) {
    return (run && run.steps && run.steps[id]) || { status: "pending", attempts: 0 };
  }

  // ---- Summary ----------------------------------------------------------

  function renderSummary() {
    const status = run.status;
    const statusElement = document.getElementById("run-status");
    statusElement.replaceWith(Object.assign(badge(status), { id: "run-status" }));
    document.body.dataset.status = status;
    document.getElementById("title").textContent = run.workflow + " run";
    document.getElementById("run-workflow").textContent = run.workflow;
    document.getElementById("run-started").textContent = when(run.started_at);
    document.getElementById("run-finished").textContent = run.finished_at
      ? when(run.finished_at) + " (took " + took(Date.parse(run.finished_at) - Date.parse(run.started_at)) + ")"
      : "not yet";
    document.getElementById("run-id").textContent = run.run_id || runId;
    document.title = run.workflow + " run: " + status + " · idflow";
    const over = finished(status);
    cancelButton.disabled = over || cancelButton.dataset.asked === "true";
    if (over) {
      cancelNote.textContent = status === "cancelled" ? "The run was cancelled." : "The run has finished.";
    } else if (run.cancel_requested) {
      cancelNote.textContent = "Cancel asked; cleanup steps run before it ends.";
    }
  }

  // ---- Graph ------------------------------------------------------------

  const NODE_W = 184, NODE_H = 64, GAP_X = 20, GAP_Y = 44, PAD = 12;

  function clip(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  // Layers by dependency depth; within a layer, steps sit under the
  // middle of what they need (one barycentre pass), else in written order.
  function layout() {
    const depth = {};
    const layers = [];
    for (const id of plan.order) {
      const needs = plan.steps[id].needs || [];
      depth[id] = needs.length ? 1 + Math.max(...needs.map((n) => depth[n] ?? 0)) : 0;
      (layers[depth[id]] ||= []).push(id);
    }
    const slot = {};
    layers.forEach((layer, index) => {
      if (index > 0) {
        const centre = (id) => {
          const needs = plan.steps[id].needs || [];
          return needs.reduce((sum, n) => sum + slot[n], 0) / needs.length;
        };
        layer.sort((a, b) => centre(a) - centre(b) || plan.order.indexOf(a) - plan.order.indexOf(b));
      }
      layer.forEach((id, i) => { slot[id] = i - (layer.length - 1) / 2; });
    });
    const widest = Math.max(1, ...layers.map((layer) => layer.length));
    const width = widest * NODE_W + (widest - 1) * GAP_X + 2 * PAD;
    const height = layers.length * NODE_H + (layers.length - 1) * GAP_Y + 2 * PAD;
    const at = {};
    for (const id of plan.order) {
      at[id] = {
        x: width / 2 + slot[id] * (NODE_W + GAP_X) - NODE_W / 2,
        y: PAD + depth[id] * (NODE_H + GAP_Y),
      };
    }
    return { at, width, height };
  }

  function renderGraph() {
    const { at, width, height } = layout();
    const title = svg("title", { id: "graph-title", text: "Steps of " + plan.name + " and what each needs" });
    const defs = svg("defs", {},
      svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
        svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" })));
    const edges = svg("g", {});
    for (const id of plan.order) {
      for (const need of plan.steps[id].needs || []) {
        const from = at[need], to = at[id];
        const x1 = from.x + NODE_W / 2, y1 = from.y + NODE_H, x2 = to.x + NODE_W / 2, y2 = to.y - 2;
        edges.append(svg("path", {
          class: "edge", "marker-end": "url(#arrow)",
          d: `M${x1},${y1} C${x1},${y1 + GAP_Y / 2} ${x2},${y2 - GAP_Y / 2} ${x2},${y2}`,
        }));
      }
    }
    const nodes = svg("g", {});
    for (const id of plan.order) {
      const { x, y } = at[id];
      const step = plan.steps[id];
      const group = svg("g", { class: "node", "data-step": id, transform: `translate(${x},${y})` },
        svg("title", { text: id + " (" + step.uses + ")" + (step.if ? ", if: " + step.if : "") }),
        svg("rect", { width: NODE_W, height: NODE_H, rx: "10" }),
        svg("text", { class: "step-id", x: "12", y: "21", text: clip(id, 21) }),
        svg("text", { class: "step-state", x: "12", y: "39" }));
      if (step.if) {
        group.append(svg("text", { class: "cond", x: "12", y: "56", text: clip("if: " + step.if, 26) }));
      }
      nodes.append(group);
    }
    const picture = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "graph-title",
    }, title, defs, edges, nodes);
    document.getElementById("graph").replaceChildren(picture);
    colourGraph();
  }

  function colourGraph() {
    for (const group of document.querySelectorAll("#graph .node")) {
      const step = stepOf(group.dataset.step);
      const state = STATES.includes(step.status) ? step.status : "pending";
      group.setAttribute("class", "node state-" + state);
      group.dataset.status = step.status;
      const attempts = step.attempts > 1 ? " · " + step.attempts + " attempts" : "";
      group.querySelector(".step-state").textContent = step.status + attempts;
    }
  }

  // ---- Steps ------------------------------------------------------------

  // A row per step (state, attempts), and under it a row with its
  // outputs or error when it has any, so that narrow screens keep three
  // columns.
  function renderSteps() {
    const rows = plan.order.flatMap((id) => {
      const step = stepOf(id);
      let detail = null;
      if (step.error) {
        detail = el("p", { class: "step-error", text: (step.error.code ? step.error.code + ": " : "") + step.error.message });
      } else if (step.outputs && Object.keys(step.outputs).length) {
        const count = Object.keys(step.outputs).length;
        detail = el("details", {}, el("summary", { text: count === 1 ? "1 output" : count + " outputs" }),
          el("pre", { text: JSON.stringify(step.outputs, null, 2) }));
      }
      const row = el("tr", { "data-step": id },
        el("th", { scope: "row" }, id, el("div", { class: "help", text: plan.steps[id].uses })),
        el("td", {}, badge(step.status)),
        el("td", { text: String(step.attempts ?? 0) }));
      if (!detail) return [row];
      row.className = "has-detail";
      return [row, el("tr", { class: "detail" }, el("td", { colspan: "3" }, detail))];
    });
    document.querySelector("#steps tbody").replaceChildren(...rows);
  }

  // ---- Timeline ---------------------------------------------------------

  function renderTimeline() {
    const box = document.getElementById("timeline");
    if (!timeline.length) {
      box.replaceChildren(el("p", { class: "tl-empty", text: "No attempt has started yet." }));
      return;
    }
    const start = Math.min(Date.parse(run.started_at), ...timeline.map((e) => Date.parse(e.started_at)));
    const stop = run.finished_at ? Date.parse(run.finished_at) : Date.now();
    const endOf = (entry) => (entry.ended_at ? Date.parse(entry.ended_at) : stop);
    const last = Math.max(stop, ...timeline.map(endOf));
    const span = Math.max(last - start, 1);
    const byStep = new Map();
    for (const entry of timeline) {
      if (!byStep.has(entry.step)) byStep.set(entry.step, []);
      byStep.get(entry.step).push(entry);
    }
    const order = plan ? plan.order.filter((id) => byStep.has(id)) : [...byStep.keys()];
    const rows = order.map((id) => {
      const track = el("div", { class: "tl-track" });
      for (const entry of byStep.get(id)) {
        const from = Date.parse(entry.started_at), to = endOf(entry);
        const kind = entry.kind;
        // An attempt without an outcome in a finished run was stopped by
        // its end (a cancel, a timeout).
        const outcome = entry.outcome || (finished(run.status) ? "stopped" : "running");
        const what = kind === "attempt"
          ? "attempt " + entry.attempt + ", " + outcome
          : (kind === "retry_wait" ? "retry wait" : "poll wait") + " before attempt " + entry.attempt;
        const error = entry.error ? ": " + entry.error.message : "";
        const label = id + ": " + what + ", " + took(to - from) + error;
        const bar = el("span", {
          class: "tl-bar " + (kind === "attempt" ? "bar-attempt bar-" + outcome : "bar-" + kind),
          role: "img", "aria-label": label, title: label, "data-kind": kind,
        });
        bar.style.left = ((from - start) / span) * 100 + "%";
        bar.style.width = ((to - from) / span) * 100 + "%";
        track.append(bar);
      }
      return el("div", { class: "tl-row", "data-step": id }, el("div", { class: "tl-step", text: id }), track);
    });
    const scale = el("div", { class: "tl-scale", "aria-hidden": "true" },
      el("span", { text: "0" }), el("span", { text: took(span) }));
    box.replaceChildren(...rows, scale);
  }

  // ---- Inputs, outputs, errors ------------------------------------------

  function renderIo() {
    const parts = [];
    const block = (heading, value) => {
      parts.push(el("h3", { text: heading }), el("pre", { text: JSON.stringify(value, null, 2) }));
    };
    if (run.inputs !== undefined) block("Inputs", run.inputs);
    if (finished(run.status) || (run.outputs && Object.keys(run.outputs).length)) block("Outputs", run.outputs ?? {});
    if (run.error) block("Run error", run.error);
    const failed = Object.entries(run.steps || {}).filter(([, step]) => step.error);
    for (const [id, step] of failed) block("Error of " + id, step.error);
    if (!parts.length) parts.push(el("p", { class: "help", text: "Nothing yet: outputs come when the run ends." }));
    const box = document.getElementById("io");
    box.className = "io";
    box.replaceChildren(...parts);
  }

  function renderAll() {
    renderSummary();
    if (plan) { colourGraph(); renderSteps(); }
    renderTimeline();
    renderIo();
  }

  // ---- Live -------------------------------------------------------------

  let timelineTimer = null;
  function refreshTimelineSoon() {
    if (timelineTimer) return;
    timelineTimer = setTimeout(async () => {
      timelineTimer = null;
      try {
        timeline = (await api(path + "/timeline")).entries;
        renderTimeline();
      } catch (_) { /* the next change tries again */ }
    }, 250);
  }

  function follow() {
    events = new EventSource("/api/v1" + path + "/events");
    document.body.dataset.live = "open";
    events.addEventListener("run", (event) => {
      const data = JSON.parse(event.data);
      run.status = data.status;
      renderSummary();
    });
    events.addEventListener("step", (event) => {
      const data = JSON.parse(event.data);
      run.steps ||= {};
      run.steps[data.step] = { ...(run.steps[data.step] || {}), ...data };
      if (plan) { colourGraph(); renderSteps(); }
      refreshTimelineSoon();
    });
    events.addEventListener("end", async (event) => {
      events.close();
      events = null;
      document.body.dataset.live = "closed";
      run = { ...JSON.parse(event.data) };
      renderAll();
      try {
        timeline = (await api(path + "/timeline")).entries;
        renderTimeline();
      } catch (_) { /* shown as it was */ }
    });
    events.addEventListener("error", (event) => {
      if (event.data) {
        const data = JSON.parse(event.data);
        showProblem("Live progress stopped: " + (data.error ? data.error.message : "unknown error"));
        events.close();
      }
      // Otherwise the connection dropped: EventSource reconnects by itself.
    });
  }

  // While attempts and waits go on, their bars grow with the clock.
  function tick() {
    if (run && !finished(run.status) && timeline.some((e) => !e.ended_at)) renderTimeline();
    setTimeout(tick, 1000);
  }

  cancelButton.addEventListener("click", async () => {
    cancelButton.disabled = true;
    cancelButton.dataset.asked = "true";
    cancelNote.textContent = "Asking to cancel…";
    try {
      await api(path + "/cancel", { method: "POST" });
      cancelNote.textContent = "Cancel asked; cleanup steps run before it ends.";
    } catch (error) {
      if (error.status === 409) {
        cancelNote.textContent = "The run has already finished.";
      } else {
        cancelButton.disabled = false;
        delete cancelButton.dataset.asked;
        cancelNote.textContent = "The cancel was refused: " + error.message;
      }
    }
  });

  async function start() {
    try {
      [run, plan, timeline] = await Promise.all([
        api(path), api(path + "/graph"), api(path + "/timeline").then((t) => t.entries),
      ]);
    } catch (error) {
      if (error.status !== 401) showProblem(error.status === 404 ? "There is no run " + runId + "." : "The run could not be read: " + error.message);
      return;
    }
    renderGraph();
    renderAll();
    document.body.dataset.loaded = "true";
    if (!finished(run.status)) follow();
    tick();
  }

  start();
})();
