// Repeat sales: saves the repeat-sales mode through the admin API.
"use strict";

(() => {
  const { api, toast } = Board;

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-repeat-sales]");
    if (!form) return;
    event.preventDefault();
    const enabled = form.elements.enabled.checked;
    try {
      await api("PUT", "/api/v1/repeat-sales", { enabled });
      toast(enabled ? "New leads and deals are marked as repeat ones." : "Repeat marking is off.");
    } catch (e) {
      toast(e.message, true);
    }
  });
})();
