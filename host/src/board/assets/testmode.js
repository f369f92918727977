// Test mode: simulate a stage entry through the simulate API, and move a manual clock forward
// to see which runs came due.
"use strict";

(() => {
  const { h, api, toast } = Board;
  const form = document.getElementById("simulate");
  const out = document.getElementById("simulation");
  const clockNow = document.getElementById("clock-now");
  const pretty = (v) => JSON.stringify(v, null, 2);
  const when = (ms) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.elements.stage.value;
    const slash = chosen.indexOf("/");
    const at = form.elements.at.value ? new Date(form.elements.at.value).getTime() : undefined;
    try {
      const answer = await api("POST", "/api/v1/simulate", { entity_type: chosen.slice(0, slash), item_id: Number(form.elements.item_id.value), stage_id: chosen.slice(slash + 1), at });
      if (!answer.runs.length) {
        out.replaceChildren(h("p", { class: "muted", text: "No robots on this stage." }));
        return;
      }
      out.replaceChildren(h("table", { class: "list" },
        h("thead", {}, h("tr", {}, ["Robot", "Due", "Condition", "Resolved settings"].map((t) => h("th", { text: t })))),
        h("tbody", {}, answer.runs.map((run) => h("tr", {},
          h("td", {}, h("strong", { text: run.name }), h("div", { class: "muted", text: run.plugin_id })),
          h("td", { text: run.due_at !== undefined && run.due_at !== null ? when(run.due_at) : run.due_error ?? "after the previous robot" }),
          h("td", { class: run.condition_holds === false ? "error" : "", text: run.condition_error ?? (run.condition_holds === false ? "does not hold: skipped" : "holds") }),
          h("td", {}, run.config_error ? h("span", { class: "error", text: run.config_error }) : h("pre", { text: pretty(run.config) })))))));
    } catch (e) {
      out.replaceChildren(h("p", { class: "form-error", role: "alert", text: e.message }));
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-advance]");
    if (!button) return;
    const before = Number(clockNow.dataset.now);
    try {
      const answer = await api("POST", "/api/v1/clock/advance", { ms: Number(button.dataset.advance) });
      clockNow.dataset.now = answer.now_ms;
      clockNow.textContent = when(answer.now_ms);
      const due = await api("GET", `/api/v1/runs?due_from=${before}&due_to=${answer.now_ms + 1}&limit=100`);
      const list = document.getElementById("came-due");
      list.replaceChildren(h("h3", { text: `Came due: ${due.runs.length}` }),
        h("ul", {}, due.runs.map((run) => h("li", {}, h("a", { href: `/runs/${run.id}`, text: `${run.plugin_id} on ${run.entity_type} ${run.item_id}` }), ` · ${run.status}`))));
    } catch (e) {
      toast(e.message, true);
    }
  });
})();
