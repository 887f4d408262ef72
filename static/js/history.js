/* The execution page: a card's details open in the side panel; focus moves to the panel's heading
   (keyboard and screen-reader users land on what they asked for) and the card shows as selected.
   htmx keeps polling #live while the run is unfinished; the selection survives each refresh. */
(function () {
  "use strict";

  var selected = null;

  function markSelected() {
    document.querySelectorAll(".run-card.card--selected").forEach(function (card) {
      card.classList.remove("card--selected");
    });
    if (!selected) return;
    var card = document.getElementById(selected);
    if (card) card.classList.add("card--selected");
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "step-panel") {
      var body = target.querySelector("[data-card]");
      selected = body ? body.getAttribute("data-card") : null;
      markSelected();
      var title = target.querySelector(".step-panel__title");
      if (title) title.focus();
      if (window.matchMedia("(max-width: 900px)").matches) target.scrollIntoView({ block: "start" });
    } else if (target && target.id === "live") {
      markSelected();
    }
  });
})();
