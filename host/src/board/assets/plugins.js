// Installing a plugin: the chosen .wasm is checked by the server first (nothing installed), the
// admin reads its manifest and the capabilities it asks for, and only then confirms.
"use strict";

(() => {
  const input = document.getElementById("plugin-file");
  const review = document.getElementById("plugin-review");
  if (!input) return;
  const { h, api, toast } = Board;

  input.addEventListener("change", async () => {
    const file = input.files[0];
    review.hidden = true;
    if (!file) return;
    const bytes = await file.arrayBuffer();
    let plugin;
    try {
      plugin = await api("POST", "/api/v1/plugins/inspect", bytes, "application/wasm");
    } catch (e) {
      review.replaceChildren(h("p", { class: "form-error", role: "alert", text: `This file cannot be installed: ${e.message}` }));
      review.hidden = false;
      return;
    }
    const m = plugin.manifest;
    const install = h("button", { type: "button", class: "primary", text: `Install ${m.name} ${m.version}` });
    const cancel = h("button", { type: "button", text: "Cancel" });
    review.replaceChildren(h("div", { class: "review" },
      h("h3", { text: "Review before installing" }),
      h("p", {}, h("strong", { text: m.name }), " ", h("code", { text: `${m.id} ${m.version}` }), plugin.contract ? ` · contract ${plugin.contract}` : ""),
      h("p", { text: m.description }),
      h("p", { text: "It asks to:" }),
      h("ul", { class: "capabilities" }, plugin.capabilities_in_words.length ? plugin.capabilities_in_words.map((c) => h("li", { text: c })) : h("li", { text: "nothing beyond running" })),
      h("p", { class: "muted", text: `SHA-256 ${plugin.sha256}` }),
      h("div", { class: "dialog-buttons" }, cancel, install)));
    review.hidden = false;
    install.focus();
    cancel.addEventListener("click", () => { review.hidden = true; input.value = ""; });
    install.addEventListener("click", async () => {
      install.disabled = true;
      try {
        await api("POST", "/api/v1/plugins", bytes, "application/wasm");
        location.reload();
      } catch (e) {
        toast(e.message, true);
        install.disabled = false;
      }
    });
  });
})();
