// The admin account's role picker: show the chosen role's summary beside it.
"use strict";
document.addEventListener("change", (event) => {
  const select = event.target;
  if (!(select instanceof HTMLSelectElement) || !select.dataset.roleSummary) {
    return;
  }
  const box = document.getElementById(select.dataset.roleSummary);
  if (box) {
    for (const summary of box.querySelectorAll("[data-role]")) {
      summary.hidden = summary.dataset.role !== select.value;
    }
  }
});
