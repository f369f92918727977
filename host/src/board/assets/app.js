// Shared by every board page: calls to the admin API and REST with the session's CSRF token,
// messages, and the few controls every page has.
"use strict";

const Board = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

  /** An API answer that was an error: Bitrix24's {error, error_description}. */
  class ApiError extends Error {
    constructor(status, body) {
      super(body?.error_description || `HTTP ${status}`);
      this.status = status;
      this.code = body?.error || "";
    }
  }

  async function request(method, url, body, contentType = "application/json") {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    let payload = body;
    if (body !== undefined && contentType === "application/json") payload = JSON.stringify(body);
    if (body !== undefined) headers["Content-Type"] = contentType;
    const response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { error_description: text }; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  /** The admin API: Board.api("POST", "/api/v1/robots", {...}). */
  const api = (method, url, body, contentType) => request(method, url, body, contentType);

  /** A REST method as the signed-in user: Board.rest("crm.deal.update", {id, fields}). */
  const rest = async (method, params) => (await request("POST", `/rest/${method}.json`, params)).result;

  /** A short message at the bottom of the page. */
  function toast(text, bad = false) {
    const box = document.getElementById("toast");
    const message = document.createElement("div");
    message.className = bad ? "message bad" : "message";
    message.textContent = text;
    box.append(message);
    setTimeout(() => message.remove(), bad ? 8000 : 3500);
  }

  /** An element from a tag, attributes and children. */
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "text") el.textContent = value;
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  document.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-navigate]");
    if (select) location.href = select.value;
  });

  document.addEventListener("click", async (event) => {
    const retry = event.target.closest("[data-retry]");
    if (!retry) return;
    retry.disabled = true;
    try {
      await api("POST", `/api/v1/runs/${encodeURIComponent(retry.dataset.retry)}/retry`);
      location.reload();
    } catch (e) {
      toast(e.message, true);
      retry.disabled = false;
    }
  });

  return { api, rest, toast, h, ApiError };
})();
