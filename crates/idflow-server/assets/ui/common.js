// What both viewer pages share: reading the runs API with the session
// cookie, building elements, and writing times and states for people.
"use strict";

window.idflow = (() => {
  const API = "/api/v1";

  // A failed API call: its status and the API's error message.
  class ApiFailure extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // Fetches `path` under the API as JSON; a lost session goes back to
  // the sign-in page (and comes back here).
  async function api(path, options = {}) {
    const response = await fetch(API + path, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      ...options,
    });
    if (response.status === 401) {
      const back = location.pathname + location.search;
      location.assign("/ui/login?next=" + encodeURIComponent(back));
      throw new ApiFailure(401, "signed out");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.statusText;
      throw new ApiFailure(response.status, message);
    }
    return body;
  }

  // An element with attributes (`text` sets its text, `class` its class)
  // and children.
  function el(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") element.textContent = value;
      else element.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) element.append(child);
    }
    return element;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attributes = {}, ...children) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") element.textContent = value;
      else element.setAttribute(name, value);
    }
    for (const child of children) element.append(child);
    return element;
  }

  const STATES = ["pending", "running", "waiting", "succeeded", "failed", "skipped", "cancelled"];

  // A state badge: the state written, coloured.
  function badge(state) {
    const known = STATES.includes(state) ? state : "pending";
    return el("span", { class: "status state-" + known, "data-status": state, text: state });
  }

  // A time as the reader's clock shows it.
  const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : timeFormat.format(date);
  }
  function timeElement(iso) {
    return iso ? el("time", { datetime: iso, text: when(iso) }) : document.createTextNode("—");
  }

  // A duration in ms for people: 850 ms, 12.3 s, 4 min 05 s, 2 h 10 min.
  function took(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
    if (ms < 1000) return Math.max(0, Math.round(ms)) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    const s = Math.round(ms / 1000);
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }

  function finished(status) {
    return status === "succeeded" || status === "failed" || status === "cancelled";
  }

  return { api, ApiFailure, el, svg, badge, when, timeElement, took, finished, STATES };
})();
