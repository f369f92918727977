// Importing a configuration file: the server checks it and answers what it would change (a dry
// run, nothing changed), the admin reads the list, and only then applies it.
"use strict";

(() => {
  const input = document.getElementById("config-file");
  const review = document.getElementById("config-review");
  if (!input) return;
  const { h, api, toast } = Board;
  const verbs = { added: "Add", updated: "Change", deleted: "Delete" };

  const changeList = (report) => h("ul", { class: "changes" },
    report.changes.map((c) => h("li", { class: `change ${c.action}` },
      h("strong", { text: verbs[c.action] }), ` ${c.kind} `, h("code", { text: c.key }), c.name ? ` (${c.name})` : "")));

  input.addEventListener("change", async () => {
    const file = input.files[0];
    review.hidden = true;
    if (!file) return;
    let body;
    try {
      body = JSON.parse(await file.text());
    } catch (e) {
      review.replaceChildren(h("p", { class: "form-error", role: "alert", text: `This file is not JSON: ${e.message}` }));
      review.hidden = false;
      return;
    }
    let planned;
    try {
      planned = await api("POST", "/api/v1/config/import?dry_run=true", body);
    } catch (e) {
      review.replaceChildren(h("p", { class: "form-error", role: "alert", text: `This file cannot be imported: ${e.message}` }));
      review.hidden = false;
      return;
    }
    const n = planned.changes.length;
    const apply = h("button", { type: "button", class: "primary", text: `Apply ${n} change${n === 1 ? "" : "s"}` });
    const cancel = h("button", { type: "button", text: "Cancel" });
    review.replaceChildren(h("div", { class: "review" },
      h("h3", { text: n ? "Review before importing" : "Nothing to change" }),
      n ? changeList(planned) : null,
      h("p", { class: "muted", text: `${planned.unchanged} entries are already as the file says.` }),
      h("div", { class: "dialog-buttons" }, cancel, n ? apply : null)));
    review.hidden = false;
    (n ? apply : cancel).focus();
    cancel.addEventListener("click", () => { review.hidden = true; input.value = ""; });
    apply.addEventListener("click", async () => {
      apply.disabled = true;
      try {
        const done = await api("POST", "/api/v1/config/import", body);
        toast(`Imported: ${done.changes.length} changes`);
        setTimeout(() => location.reload(), 600);
      } catch (e) {
        toast(e.message, true);
        apply.disabled = false;
      }
    });
  });
})();
