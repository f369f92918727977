// The kanban board: drag a card to another stage (or Shift+Arrow on a focused card), load more
// cards per column, and redraw when the pipeline changes. A move is the item's REST update
// call, the one an integration would make: robots run and triggers apply as they would.
"use strict";

(() => {
  const board = document.getElementById("kanban");
  const moveForm = document.querySelector("form.move-item");

  /** The REST call that puts an item in a stage. */
  function moveCall(method, stageField, typeId, id, stage) {
    const params = { id: Number(id), fields: { [stageField]: stage } };
    if (method === "crm.item.update") params.entityTypeId = Number(typeId);
    return Board.rest(method, params);
  }

  if (moveForm) {
    moveForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { method, stageField, typeId, id } = moveForm.dataset;
      try {
        await moveCall(method, stageField, typeId, id, moveForm.elements.stage.value);
        location.reload();
      } catch (e) {
        Board.toast(e.message, true);
      }
    });
  }
  if (!board) return;

  let dragged = null;
  let busy = false;
  let stamp = null;

  async function move(card, column) {
    const from = card.parentElement;
    const next = card.nextSibling;
    const target = column.querySelector(".cards");
    if (target === from) return;
    target.prepend(card);
    card.classList.add("saving");
    card.setAttribute("aria-busy", "true");
    busy = true;
    try {
      await moveCall(board.dataset.updateMethod, board.dataset.stageField, board.dataset.typeId, card.dataset.id, column.dataset.stage);
      await redraw();
    } catch (e) {
      from.insertBefore(card, next);
      Board.toast(e.message, true);
    } finally {
      card.classList.remove("saving");
      card.removeAttribute("aria-busy");
      busy = false;
    }
  }

  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest(".card");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
  });
  board.addEventListener("dragend", () => {
    dragged?.classList.remove("dragging");
    board.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
    dragged = null;
  });
  board.addEventListener("dragover", (event) => {
    const zone = event.target.closest(".column")?.querySelector(".cards");
    if (!zone || !dragged) return;
    event.preventDefault();
    board.querySelectorAll(".drop-target").forEach((el) => el !== zone && el.classList.remove("drop-target"));
    zone.classList.add("drop-target");
  });
  board.addEventListener("drop", (event) => {
    const column = event.target.closest(".column");
    if (!column || !dragged) return;
    event.preventDefault();
    const card = dragged;
    card.classList.remove("dragging");
    column.querySelector(".cards").classList.remove("drop-target");
    move(card, column);
  });
  board.addEventListener("keydown", (event) => {
    const card = event.target.closest(".card");
    if (!card || !event.shiftKey || !["ArrowLeft", "ArrowRight"].includes(event.key)) return;
    event.preventDefault();
    const column = card.closest(".column");
    const target = event.key === "ArrowRight" ? column.nextElementSibling : column.previousElementSibling;
    if (target) move(card, target).then(() => board.querySelector(`.card[data-id="${card.dataset.id}"]`)?.focus());
  });
  board.addEventListener("click", async (event) => {
    const more = event.target.closest("button[data-more]");
    if (!more) return;
    more.disabled = true;
    const response = await fetch(more.dataset.more, { credentials: "same-origin" });
    if (!response.ok) {
      Board.toast(`Could not load more cards (HTTP ${response.status})`, true);
      more.disabled = false;
      return;
    }
    more.insertAdjacentHTML("afterend", await response.text());
    more.remove();
  });

  /** Replaces the columns with the server's current ones. */
  async function redraw() {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("kanban");
    if (fresh) board.replaceChildren(...fresh.children);
    stamp = await currentStamp();
  }

  async function currentStamp() {
    const response = await fetch(board.dataset.stampUrl, { credentials: "same-origin" });
    return response.ok ? (await response.json()).stamp : stamp;
  }

  /** Live updates: a cheap look every few seconds, a redraw when something changed. */
  async function poll() {
    if (!busy && !dragged && !document.hidden) {
      const now = await currentStamp();
      if (stamp !== null && now !== stamp) await redraw();
      stamp = now;
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
