// The automation rules tab: add, edit, reorder and delete robots and triggers. The robot's
// settings form is generated from its plugin's JSON Schema; every save goes to the admin API,
// which validates exactly as it does for any client, and its errors are shown by field.
"use strict";

(() => {
  const root = document.getElementById("automation");
  if (!root) return;
  const setup = JSON.parse(document.getElementById("automation-setup").textContent);
  const { h, api, toast } = Board;
  const robotsById = new Map(setup.robots.map((r) => [r.id, r]));
  const pluginsById = new Map(setup.plugins.map((p) => [p.id, p]));

  // ---- Template picker -------------------------------------------------------------------

  /** The templates a field of a robot on `stageId` (placed before `robotId`, if editing) may use. */
  function templateChoices(stageId, robotId) {
    const groups = [
      { title: "This item", items: setup.fields.own.map((f) => ({ label: f.title === f.field ? f.field : `${f.title} (${f.field})`, value: `{=Document:${f.field}}` })) },
      { title: "Linked records", items: setup.fields.linked.map((f) => ({ label: f.title, value: `{=Document:${f.field}}` })) },
      { title: "System", items: [{ label: "Now (date and time)", value: "{=System:Now}" }, { label: "Today (date)", value: "{=System:Date}" }] },
    ];
    const stageRobots = setup.robots.filter((r) => r.stage_id === stageId).sort((a, b) => a.sort - b.sort);
    const editing = robotId ? robotsById.get(robotId) : null;
    const earlier = stageRobots.filter((r) => !editing || r.sort < editing.sort);
    const returns = [];
    for (const robot of earlier) {
      const properties = pluginsById.get(robot.plugin_id)?.returns_schema?.properties ?? {};
      for (const [key, schema] of Object.entries(properties)) {
        returns.push({ label: `${robot.name} › ${schema.title || key}`, value: `{=${robot.id}:${key}}` });
      }
    }
    if (returns.length) groups.push({ title: "Earlier robots of this stage", items: returns });
    return groups;
  }

  /** A button that opens the template menu and inserts the choice into `input` at the cursor. */
  function pickerFor(input, context) {
    const menu = h("div", { class: "picker-menu", role: "menu", hidden: true });
    const button = h("button", { type: "button", "aria-haspopup": "menu", "aria-label": "Insert a field", title: "Insert a field", text: "{…}" });
    const close = () => { menu.hidden = true; button.setAttribute("aria-expanded", "false"); };
    button.addEventListener("click", () => {
      if (!menu.hidden) return close();
      menu.replaceChildren();
      for (const group of templateChoices(context.stageId, context.robotId)) {
        menu.append(h("div", { class: "group", text: group.title }));
        for (const item of group.items) {
          menu.append(h("button", {
            type: "button", role: "menuitem", text: item.label, "data-template": item.value,
            onclick: () => {
              const start = input.selectionStart ?? input.value.length;
              const end = input.selectionEnd ?? input.value.length;
              input.value = input.value.slice(0, start) + item.value + input.value.slice(end);
              input.focus();
              close();
            },
          }));
        }
      }
      menu.hidden = false;
      button.setAttribute("aria-expanded", "true");
      menu.querySelector("button")?.focus();
    });
    menu.addEventListener("keydown", (e) => { if (e.key === "Escape") { close(); button.focus(); } });
    return h("div", { class: "picker" }, button, menu);
  }

  // ---- Forms generated from JSON Schema --------------------------------------------------

  let fieldCounter = 0;
  const nextId = () => `f${++fieldCounter}`;

  /**
   * A control for `schema` holding `value`, at JSON pointer `path`; answers {el, read} where
   * read() gives the value back (undefined for an empty optional field).
   */
  function control(schema, value, path, required, context) {
    schema = schema || {};
    const title = schema.title || path.split("/").pop() || "Settings";
    const help = schema.description ? h("span", { class: "field-help", text: schema.description }) : null;
    const initial = value !== undefined ? value : schema.default;
    const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
    const wrap = (labelled, inner) => h("div", { class: "field", "data-path": path }, labelled, inner, h("span", { class: "field-error", "aria-live": "polite" }));

    if (schema.enum) {
      const id = nextId();
      const select = h("select", { id, name: path },
        required ? null : h("option", { value: "", text: "—" }),
        schema.enum.map((option, i) => h("option", { value: String(i), text: (schema.enumNames || schema["x-enum-titles"] || [])[i] ?? String(option), selected: option === initial })));
      return {
        el: wrap(h("label", { for: id, class: required ? "required" : "" }, h("span", { class: "label-text", text: title }), help), select),
        read: () => (select.value === "" ? undefined : schema.enum[Number(select.value)]),
      };
    }
    if (type === "boolean") {
      const id = nextId();
      const box = h("input", { id, type: "checkbox", name: path, checked: initial === true });
      return {
        el: wrap(h("label", { class: "check", for: id }, box, title), help),
        read: () => box.checked,
      };
    }
    if (type === "object" && schema.properties) {
      const requiredKeys = new Set(schema.required || []);
      const children = Object.entries(schema.properties).map(([key, child]) => [key, control(child, initial?.[key], `${path}/${key}`, requiredKeys.has(key), context)]);
      const body = children.map(([, c]) => c.el);
      const el = path === "" ? h("div", { class: "settings", "data-path": "" }, body) : h("fieldset", { "data-path": path }, h("legend", { text: title }), help, body, h("span", { class: "field-error" }));
      return {
        el,
        read: () => {
          const out = {};
          for (const [key, c] of children) {
            const v = c.read();
            if (v !== undefined) out[key] = v;
          }
          return out;
        },
      };
    }
    if (type === "array") {
      const list = h("div", { class: "array-items" });
      const items = [];
      const add = (v) => {
        const item = control(schema.items || { type: "string" }, v, `${path}/${items.length}`, true, context);
        const row = h("div", { class: "array-item" }, item.el);
        const entry = { item, row };
        row.append(h("button", { type: "button", class: "danger", "aria-label": `Remove from ${title}`, text: "Remove", onclick: () => { items.splice(items.indexOf(entry), 1); row.remove(); } }));
        items.push(entry);
        list.append(row);
      };
      (Array.isArray(initial) ? initial : []).forEach(add);
      return {
        el: h("fieldset", { "data-path": path }, h("legend", { class: required ? "required" : "", text: title }), help, list,
          h("button", { type: "button", text: `+ Add to ${title}`, onclick: () => add(undefined) }), h("span", { class: "field-error" })),
        read: () => items.map((e) => e.item.read()).filter((v) => v !== undefined),
      };
    }
    if (type === "object") {
      const id = nextId();
      const area = h("textarea", { id, name: path, spellcheck: "false" });
      area.value = initial === undefined ? "" : JSON.stringify(initial, null, 2);
      return {
        el: wrap(h("label", { for: id, class: required ? "required" : "" }, h("span", { class: "label-text", text: `${title} (JSON)` }), help), area),
        read: () => {
          if (!area.value.trim()) return undefined;
          try { return JSON.parse(area.value); } catch { return area.value; }
        },
      };
    }
    // Strings and numbers; both may hold a template, resolved when the robot runs.
    const id = nextId();
    const numeric = type === "number" || type === "integer";
    const long = !numeric && (schema.format === "textarea" || schema["x-multiline"] || (schema.maxLength ?? 0) > 200);
    const input = long ? h("textarea", { id, name: path }) : h("input", { id, name: path, type: "text", inputmode: numeric ? "decimal" : null, placeholder: schema.examples?.[0] ?? null });
    input.value = initial === undefined || initial === null ? "" : String(initial);
    return {
      el: wrap(h("label", { for: id, class: required ? "required" : "" }, h("span", { class: "label-text", text: title }), help), h("div", { class: "with-picker" }, input, pickerFor(input, context))),
      read: () => {
        const text = input.value;
        if (text === "") return undefined;
        if (numeric && !text.includes("{=")) {
          const n = Number(text);
          return Number.isNaN(n) ? text : n;
        }
        return text;
      },
    };
  }

  // ---- Timing editor ---------------------------------------------------------------------

  function timingEditor(timing) {
    timing = timing || { kind: "immediately" };
    const kinds = [["immediately", "Immediately"], ["delay", "After a delay"], ["before_field", "Before a date field"], ["after_field", "After a date field"], ["time_of_day", "At a time of day"]];
    const kind = h("select", { name: "timing.kind", "aria-label": "When" }, kinds.map(([v, t]) => h("option", { value: v, text: t, selected: timing.kind === v })));
    const value = h("input", { type: "number", min: "0", name: "timing.value", value: timing.value ?? 1, "aria-label": "Amount" });
    const unit = h("select", { name: "timing.unit", "aria-label": "Unit" }, [["seconds", "seconds"], ["minutes", "minutes"], ["hours", "hours"], ["days", "days"]].map(([v, t]) => h("option", { value: v, text: t, selected: (timing.unit ?? "minutes") === v })));
    const working = h("input", { type: "checkbox", name: "timing.working_time", checked: !!timing.working_time });
    const field = h("select", { name: "timing.field", "aria-label": "Date field" }, setup.date_fields.map((f) => h("option", { value: f, text: f, selected: timing.field === f })));
    const at = h("input", { type: "time", name: "timing.at", value: timing.at ?? "09:00", "aria-label": "Time of day" });
    const offset = h("input", { type: "number", name: "timing.utc_offset_minutes", value: timing.utc_offset_minutes ?? -new Date().getTimezoneOffset(), "aria-label": "UTC offset in minutes" });
    const parts = {
      amount: h("label", {}, "Amount", h("div", { class: "with-picker" }, value, unit)),
      working: h("label", { class: "check" }, working, "Count working time only"),
      field: h("label", {}, "Date field", field),
      at: h("label", {}, "Time", at),
      offset: h("label", {}, "UTC offset (minutes)", offset),
    };
    const show = () => {
      const k = kind.value;
      parts.amount.hidden = !["delay", "before_field", "after_field"].includes(k);
      parts.working.hidden = k !== "delay";
      parts.field.hidden = !["before_field", "after_field"].includes(k);
      parts.at.hidden = parts.offset.hidden = k !== "time_of_day";
    };
    kind.addEventListener("change", show);
    show();
    const el = h("fieldset", { "data-path": "timing" }, h("legend", { text: "When it runs" }), h("label", {}, "When", kind), Object.values(parts), h("span", { class: "field-error" }));
    return {
      el,
      read: () => {
        const k = kind.value;
        if (k === "immediately") return { kind: k };
        if (k === "delay") return { kind: k, value: Number(value.value), unit: unit.value, working_time: working.checked };
        if (k === "time_of_day") return { kind: k, at: at.value, utc_offset_minutes: Number(offset.value) };
        return { kind: k, field: field.value, value: Number(value.value), unit: unit.value };
      },
    };
  }

  // ---- Condition editor ------------------------------------------------------------------

  const OPERATORS = [["=", "equals"], ["!=", "does not equal"], [">", "greater than"], [">=", "at least"], ["<", "less than"], ["<=", "at most"], ["in", "is one of"], ["!in", "is none of"], ["contain", "contains"], ["!contain", "does not contain"], ["empty", "is empty"], ["!empty", "is not empty"]];

  function ruleEditor(rule, onRemove) {
    const field = h("select", { "aria-label": "Field" }, setup.fields.own.map((f) => h("option", { value: f.field, text: f.title === f.field ? f.field : `${f.title} (${f.field})`, selected: rule.field === f.field })));
    const op = h("select", { "aria-label": "Operator" }, OPERATORS.map(([v, t]) => h("option", { value: v, text: t, selected: rule.op === v })));
    const value = h("input", { type: "text", "aria-label": "Value", placeholder: "value" });
    value.value = Array.isArray(rule.value) ? rule.value.join(", ") : (rule.value ?? "");
    const show = () => { value.hidden = op.value === "empty" || op.value === "!empty"; value.placeholder = op.value.endsWith("in") ? "values, comma-separated" : "value"; };
    op.addEventListener("change", show);
    show();
    const el = h("div", { class: "cond-rule" }, field, op, value, h("button", { type: "button", class: "danger", "aria-label": "Remove condition", text: "×", onclick: onRemove }));
    return {
      el,
      read: () => {
        const out = { field: field.value, op: op.value };
        if (op.value === "in" || op.value === "!in") out.value = value.value.split(",").map((s) => s.trim()).filter(Boolean);
        else if (!value.hidden) out.value = value.value;
        return out;
      },
    };
  }

  function groupEditor(group, onRemove) {
    const logic = h("select", { "aria-label": "Combine with" }, [["and", "All of (AND)"], ["or", "Any of (OR)"]].map(([v, t]) => h("option", { value: v, text: t, selected: (group.logic ?? "and") === v })));
    const list = h("div", { class: "cond-list" });
    const members = [];
    const addMember = (make) => {
      let member;
      const remove = () => { members.splice(members.indexOf(member), 1); member.el.remove(); };
      member = make(remove);
      members.push(member);
      list.append(member.el);
    };
    const addRule = (r) => addMember((remove) => ruleEditor(r, remove));
    const addGroup = (g) => addMember((remove) => groupEditor(g, remove));
    for (const r of group.rules ?? []) (r.rules ? addGroup(r) : addRule(r));
    const tools = h("div", { class: "cond-tools" },
      h("button", { type: "button", text: "+ Condition", onclick: () => addRule({ field: setup.fields.own[0]?.field, op: "=" }) }),
      h("button", { type: "button", text: "+ Group", onclick: () => addGroup({ logic: "or", rules: [] }) }),
      onRemove ? h("button", { type: "button", class: "danger", text: "Remove group", onclick: onRemove }) : null);
    return {
      el: h("div", { class: "cond-group" }, logic, list, tools),
      read: () => ({ logic: logic.value, rules: members.map((m) => m.read()) }),
    };
  }

  function conditionEditor(condition) {
    const group = groupEditor(condition || { logic: "and", rules: [] }, null);
    return {
      el: h("fieldset", { "data-path": "condition" }, h("legend", { text: "Condition" }), h("span", { class: "field-help", text: "Leave empty to run always." }), group.el, h("span", { class: "field-error" })),
      read: () => {
        const value = group.read();
        return value.rules.length ? value : null;
      },
    };
  }

  // ---- Errors by field -------------------------------------------------------------------

  /** Shows the API's error next to the field it names, or above the form. */
  function showErrors(form, error) {
    form.querySelectorAll(".has-error").forEach((el) => el.classList.remove("has-error"));
    form.querySelectorAll(".field-error").forEach((el) => (el.textContent = ""));
    const general = form.querySelector(".form-error");
    general.hidden = true;
    const message = error.message;
    const leftover = [];
    const schemaErrors = message.match(/schema: (.*)$/s);
    const parts = schemaErrors ? schemaErrors[1].split("; ") : [message];
    for (const part of parts) {
      let path = null;
      let text = part;
      const pointer = part.match(/^(\/[^:]*): (.*)$/s);
      const missing = part.match(/^"([^"]+)" is a required property/);
      if (pointer) [path, text] = [pointer[1], pointer[2]];
      else if (missing) [path, text] = [`/${missing[1]}`, "This field is required."];
      else if (/^(timing|delay|time of day)/i.test(part)) path = "timing";
      else if (/^condition/i.test(part)) path = "condition";
      const target = path !== null ? form.querySelector(`[data-path="${CSS.escape(path)}"]`) : null;
      if (target) {
        target.classList.add("has-error");
        const slot = target.querySelector(":scope > .field-error");
        if (slot) slot.textContent = text;
      } else {
        leftover.push(part);
      }
    }
    if (leftover.length) {
      general.textContent = leftover.join(" ");
      general.hidden = false;
    }
    form.querySelector(".has-error input, .has-error select, .has-error textarea")?.focus();
  }

  // ---- Robot editor ----------------------------------------------------------------------

  function openRobotEditor(stageId, robot) {
    const dialog = h("dialog", { "aria-labelledby": "robot-editor-title" });
    const form = h("form", { class: "editor", method: "dialog", novalidate: true });
    const title = h("h2", { id: "robot-editor-title", text: robot ? `Edit robot: ${robot.name}` : "Add robot" });
    const stageName = setup.stages.find((s) => s.id === stageId)?.name ?? stageId;
    const context = { stageId, robotId: robot?.id };
    const pluginSelect = h("select", { name: "plugin_id", disabled: !!robot, "aria-describedby": "plugin-description" },
      setup.plugins.map((p) => h("option", { value: p.id, text: `${p.name} (${p.id} ${p.version})`, selected: robot ? robot.plugin_id === p.id : false })));
    if (robot && !pluginsById.has(robot.plugin_id)) pluginSelect.append(h("option", { value: robot.plugin_id, text: `${robot.plugin_id} (not installed)`, selected: true }));
    const description = h("p", { id: "plugin-description", class: "field-help" });
    const name = h("input", { name: "name", type: "text", value: robot?.name ?? "" });
    const settingsSlot = h("div");
    let settings = null;
    const renderSettings = () => {
      const plugin = pluginsById.get(pluginSelect.value);
      description.textContent = plugin ? `${plugin.description} Needs: ${plugin.capabilities.join("; ") || "nothing"}.` : "";
      if (!robot && plugin && (!name.value || name.dataset.auto === "1")) { name.value = plugin.name; name.dataset.auto = "1"; }
      settings = control(plugin?.config_schema ?? { type: "object" }, robot && robot.plugin_id === pluginSelect.value ? robot.config : undefined, "", true, context);
      settingsSlot.replaceChildren(h("fieldset", {}, h("legend", { text: "Settings" }), settings.el));
    };
    name.addEventListener("input", () => (name.dataset.auto = "0"));
    pluginSelect.addEventListener("change", renderSettings);
    const timing = timingEditor(robot?.timing);
    const condition = conditionEditor(robot?.condition);
    const afterPrevious = h("input", { type: "checkbox", name: "after_previous", checked: !!robot?.after_previous });
    const general = h("div", { class: "form-error", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "primary", text: "Save" });
    form.append(title, h("p", { class: "muted", text: `Stage: ${stageName}` }), general,
      h("label", {}, "Action", pluginSelect), description,
      h("label", {}, "Name", name),
      settingsSlot, timing.el,
      h("label", { class: "check" }, afterPrevious, "Wait for the previous robot to finish"),
      condition.el,
      h("div", { class: "dialog-buttons" }, h("button", { type: "button", text: "Cancel", onclick: () => dialog.close() }), save));
    renderSettings();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      const body = { name: name.value || undefined, config: settings.read(), timing: timing.read(), condition: condition.read(), after_previous: afterPrevious.checked };
      try {
        if (robot) await api("PUT", `/api/v1/robots/${encodeURIComponent(robot.id)}`, body);
        else await api("POST", "/api/v1/robots", { entity_type: setup.entity_type, stage_id: stageId, plugin_id: pluginSelect.value, ...body });
        dialog.close();
        location.reload();
      } catch (e) {
        showErrors(form, e);
      } finally {
        save.disabled = false;
      }
    });
    dialog.append(form);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  // ---- Trigger editor --------------------------------------------------------------------

  const TRIGGER_KINDS = [
    ["field_changed", "A field changed"], ["responsible_changed", "The responsible person changed"], ["item_created", "The item was created"],
    ["activity_completed", "An activity was completed"], ["task_completed", "A task was completed"], ["comment_added", "A comment was added"],
    ["webhook", "A webhook was called"], ["app", "An application executed a code"], ["no_activity", "No activity for some days"],
  ];

  function openTriggerEditor(stageId) {
    const dialog = h("dialog", { "aria-labelledby": "trigger-editor-title" });
    const form = h("form", { class: "editor", method: "dialog", novalidate: true });
    const kind = h("select", { name: "kind" }, TRIGGER_KINDS.map(([v, t]) => h("option", { value: v, text: t })));
    const name = h("input", { name: "name", type: "text" });
    const field = h("select", { name: "field" }, setup.fields.own.map((f) => h("option", { value: f.field, text: f.title === f.field ? f.field : `${f.title} (${f.field})` })));
    const value = h("input", { name: "value", type: "text", placeholder: "any value" });
    const number = h("input", { name: "number", type: "number", min: "1" });
    const code = h("input", { name: "code", type: "text" });
    const parts = {
      field: h("label", {}, "Field", field),
      value: h("label", {}, "Changed to (optional)", value),
      number: h("label", {}, "Number", number),
      code: h("label", {}, "Code", code),
    };
    const show = () => {
      const k = kind.value;
      parts.field.hidden = k !== "field_changed";
      parts.value.hidden = k !== "field_changed";
      parts.number.hidden = !["responsible_changed", "activity_completed", "no_activity"].includes(k);
      parts.number.firstChild.textContent = { responsible_changed: "New responsible user id (optional)", activity_completed: "Activity type id (optional)", no_activity: "Days without activity" }[k] ?? "Number";
      parts.code.hidden = !["webhook", "app"].includes(k);
    };
    kind.addEventListener("change", show);
    show();
    const backwards = h("input", { type: "checkbox", name: "allow_backwards" });
    const condition = conditionEditor(null);
    const general = h("div", { class: "form-error", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "primary", text: "Save" });
    form.append(h("h2", { id: "trigger-editor-title", text: "Add trigger" }), general, h("label", {}, "When", kind), Object.values(parts),
      h("label", {}, "Name", name), h("label", { class: "check" }, backwards, "May move the item back to this stage"), condition.el,
      h("div", { class: "dialog-buttons" }, h("button", { type: "button", text: "Cancel", onclick: () => dialog.close() }), save));
    const readKind = () => {
      const k = kind.value;
      const n = number.value === "" ? undefined : Number(number.value);
      switch (k) {
        case "field_changed": return { kind: k, field: field.value, ...(value.value ? { value: value.value } : {}) };
        case "responsible_changed": return { kind: k, ...(n !== undefined ? { user_id: n } : {}) };
        case "activity_completed": return { kind: k, ...(n !== undefined ? { type_id: n } : {}) };
        case "no_activity": return { kind: k, days: n };
        case "webhook": return { kind: k, ...(code.value ? { code: code.value } : {}) };
        case "app": return { kind: k, code: code.value };
        default: return { kind: k };
      }
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      try {
        await api("POST", "/api/v1/triggers", { entity_type: setup.entity_type, stage_id: stageId, name: name.value || undefined, trigger: readKind(), condition: condition.read(), allow_backwards: backwards.checked });
        dialog.close();
        location.reload();
      } catch (e) {
        showErrors(form, e);
      } finally {
        save.disabled = false;
      }
    });
    dialog.append(form);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  // ---- The tab's buttons and robot reordering ---------------------------------------------

  root.addEventListener("click", async (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    const { addRobot, editRobot, deleteRobot, addTrigger, deleteTrigger } = target.dataset;
    if (addRobot) openRobotEditor(addRobot);
    else if (editRobot) openRobotEditor(robotsById.get(editRobot).stage_id, robotsById.get(editRobot));
    else if (addTrigger) openTriggerEditor(addTrigger);
    else if (deleteRobot || deleteTrigger) {
      const what = deleteRobot ? robotsById.get(deleteRobot)?.name : "this trigger";
      if (!confirm(`Delete ${what}?`)) return;
      try {
        await api("DELETE", deleteRobot ? `/api/v1/robots/${encodeURIComponent(deleteRobot)}` : `/api/v1/triggers/${encodeURIComponent(deleteTrigger)}`);
        target.closest("li").remove();
        toast("Deleted.");
      } catch (e) {
        toast(e.message, true);
      }
    }
  });

  let dragged = null;
  root.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("li.robot");
    if (dragged) event.dataTransfer.effectAllowed = "move";
  });
  root.addEventListener("dragover", (event) => {
    const over = event.target.closest("li.robot");
    if (!dragged || !over || over === dragged || over.parentElement !== dragged.parentElement) return;
    event.preventDefault();
    const after = event.clientY > over.getBoundingClientRect().top + over.offsetHeight / 2;
    over.parentElement.insertBefore(dragged, after ? over.nextSibling : over);
  });
  root.addEventListener("dragend", async () => {
    if (!dragged) return;
    const list = dragged.parentElement;
    dragged = null;
    await saveOrder(list);
  });
  root.addEventListener("keydown", async (event) => {
    const item = event.target.closest("li.robot");
    if (!item || !setup.can_edit || !event.altKey || !["ArrowUp", "ArrowDown"].includes(event.key)) return;
    event.preventDefault();
    const sibling = event.key === "ArrowUp" ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling) return;
    item.parentElement.insertBefore(item, event.key === "ArrowUp" ? sibling : sibling.nextSibling);
    item.focus();
    await saveOrder(item.parentElement);
  });

  async function saveOrder(list) {
    const ids = [...list.querySelectorAll("li.robot")].map((li) => li.dataset.robot);
    const before = setup.robots.filter((r) => r.stage_id === list.dataset.stage).sort((a, b) => a.sort - b.sort).map((r) => r.id);
    if (ids.join() === before.join()) return;
    try {
      const answer = await api("POST", "/api/v1/robots/reorder", { entity_type: setup.entity_type, stage_id: list.dataset.stage, robot_ids: ids });
      for (const robot of answer.robots) robotsById.get(robot.id).sort = robot.sort;
      setup.robots = [...robotsById.values()];
      toast("Order saved.");
    } catch (e) {
      toast(e.message, true);
      location.reload();
    }
  }
})();
