// Access permissions: saves roles, users' roles and passwords through the admin API.
"use strict";

(() => {
  const { api, toast } = Board;

  function permissionsOf(form) {
    const out = {};
    for (const row of form.querySelectorAll("tr[data-type]")) {
      const entry = {};
      for (const select of row.querySelectorAll("select")) entry[select.name] = select.value;
      out[row.dataset.type] = entry;
    }
    return out;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.role-form");
    if (!form) return;
    event.preventDefault();
    const name = form.elements.name.value;
    try {
      if (form.dataset.role) await api("PUT", `/api/v1/roles/${form.dataset.role}`, { name, permissions: permissionsOf(form) });
      else await api("POST", "/api/v1/roles", { name, permissions: {} });
      if (form.dataset.role) toast(`Saved ${name}.`);
      else location.reload();
    } catch (e) {
      toast(e.message, true);
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const { deleteRole, saveUserRoles, setPassword } = button.dataset;
    try {
      if (deleteRole) {
        if (!confirm("Delete this role? Its users keep their other roles.")) return;
        await api("DELETE", `/api/v1/roles/${deleteRole}`);
        location.reload();
      } else if (saveUserRoles) {
        const row = button.closest("tr");
        const roleIds = [...row.querySelectorAll("input[name=role]:checked")].map((c) => Number(c.value));
        await api("PUT", `/api/v1/users/${saveUserRoles}/roles`, { role_ids: roleIds });
        toast("Roles saved.");
      } else if (setPassword) {
        const input = button.closest("tr").querySelector("input[name=password]");
        await api("PUT", `/api/v1/users/${setPassword}/password`, { password: input.value });
        input.value = "";
        toast("Password set.");
      }
    } catch (e) {
      toast(e.message, true);
    }
  });
})();
