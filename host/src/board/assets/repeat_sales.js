// Repeat sales: saves the repeat-sales mode (and simple-CRM mode) through the admin API.
"use strict";

(() => {
  const { api, toast } = Board;

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-repeat-sales]");
    if (!form) return;
    event.preventDefault();
    const enabled = form.elements.enabled.checked;
    const simple_crm = form.elements.simple_crm.checked;
    try {
      await api("PUT", "/api/v1/repeat-sales", { enabled, simple_crm });
      toast(enabled ? "New leads and deals are marked as repeat ones." : "Repeat marking is off.");
    } catch (e) {
      toast(e.message, true);
    }
  });
})();

// Return rules: added from the form, deleted from their row, through the admin API.
(() => {
  const { api, toast } = Board;

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-new-rule]");
    if (!form) return;
    event.preventDefault();
    const f = form.elements;
    const [entityType, stageId] = f.stage.value.split("|");
    const won = f.stage.selectedOptions[0].dataset.semantics === "S";
    const rule = {
      kind: won ? "repeat_deal" : "reactivation",
      entity_type: entityType,
      stage_id: stageId,
      after_days: Number(f.after_days.value),
      mode: f.mode.value,
      responsible: { kind: f.responsible.value },
      notify_manager: f.notify.checked,
      notify_supervisor: f.notify.checked,
    };
    if (f.category_id.value !== "") rule.category_id = Number(f.category_id.value);
    if (f.max_count.value !== "") rule.max_count = Number(f.max_count.value);
    try {
      await api("POST", "/api/v1/return-rules", rule);
      location.reload();
    } catch (e) {
      toast(e.message, true);
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-delete-rule]");
    if (!button) return;
    if (!confirm("Delete this rule? Its pending returns are dropped.")) return;
    try {
      await api("DELETE", `/api/v1/return-rules/${button.dataset.deleteRule}`);
      location.reload();
    } catch (e) {
      toast(e.message, true);
    }
  });
})();

// Segments: added from the form, switched on and off and deleted from their row, through the
// admin API.
(() => {
  const { api, toast } = Board;

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-new-segment]");
    if (!form) return;
    event.preventDefault();
    const f = form.elements;
    const segment = {
      name: f.name.value,
      kind: f.kind.value,
      days: Number(f.days.value),
      responsible: { kind: f.responsible.value },
      notify_manager: f.notify.checked,
    };
    if (f.window_days.value !== "") segment.window_days = Number(f.window_days.value);
    if (f.category_id.value !== "") segment.category_id = Number(f.category_id.value);
    try {
      await api("POST", "/api/v1/repeat-sales/segments", segment);
      location.reload();
    } catch (e) {
      toast(e.message, true);
    }
  });

  document.addEventListener("change", async (event) => {
    const box = event.target.closest("input[data-toggle-segment]");
    if (!box) return;
    const { id, ...segment } = JSON.parse(box.dataset.toggleSegment);
    segment.enabled = box.checked;
    try {
      const saved = await api("PUT", `/api/v1/repeat-sales/segments/${id}`, segment);
      box.dataset.toggleSegment = JSON.stringify(saved);
      toast(`${saved.name} is ${saved.enabled ? "on" : "off"}.`);
    } catch (e) {
      box.checked = !box.checked;
      toast(e.message, true);
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-delete-segment]");
    if (!button) return;
    if (!confirm("Delete this segment? The deals it made stay.")) return;
    try {
      await api("DELETE", `/api/v1/repeat-sales/segments/${button.dataset.deleteSegment}`);
      location.reload();
    } catch (e) {
      toast(e.message, true);
    }
  });
})();
