/* The workflow builder's page behaviour (no build step; htmx and Sortable.js are vendored).
   The server owns the document: everything here either sends an edit (drag and drop) or helps
   fill a field (variable picker, object pickers, list rows) and lets the form's change post it. */
(function () {
  "use strict";

  var leaving = false;

  function editor() { return document.getElementById("editor"); }
  function panelForm() { return document.getElementById("panel-form"); }

  function fireChange(element) {
    element.dispatchEvent(new Event("input", { bubbles: true }));
    element.dispatchEvent(new Event("change", { bubbles: true }));
  }

  /* --- drag and drop between lanes --------------------------------------------------------- */

  function initSortable(root) {
    var host = editor();
    if (!host || host.dataset.editable !== "true" || typeof Sortable === "undefined") return;
    var lanes = root.querySelectorAll ? root.querySelectorAll(".lane__cards") : [];
    Array.prototype.forEach.call(lanes, function (lane) {
      if (lane.dataset.sortable) return;
      lane.dataset.sortable = "1";
      Sortable.create(lane, {
        group: "tasks",
        handle: ".card__handle",
        draggable: ".card-item",
        animation: 150,
        forceFallback: true,  // mouse and touch events, not native drag: the same on every browser
        fallbackOnBody: true,
        swapThreshold: 0.6,
        // Over a card of another lane, its upper half places the card before it, the lower half after.
        invertedSwapThreshold: 1,
        emptyInsertThreshold: 24,
        onEnd: function (event) {
          if (event.from === event.to && event.oldDraggableIndex === event.newDraggableIndex) return;
          var pathField = document.getElementById("panel-path-field");
          htmx.ajax("POST", host.dataset.moveUrl, {
            source: host,
            swap: "none",
            values: {
              path: event.item.dataset.path,
              lane: event.to.dataset.lane,
              index: event.newDraggableIndex,
              panel_path: pathField ? pathField.value : ""
            }
          });
        }
      });
    });
  }

  /* --- the variable picker --------------------------------------------------------------- */

  var varTarget = null;
  var varButton = null;

  function closeVarPicker(restoreFocus) {
    var picker = document.getElementById("var-picker");
    if (picker) picker.hidden = true;
    if (restoreFocus && varButton && document.body.contains(varButton)) varButton.focus();
    varTarget = null;
  }

  function openVarPicker(button) {
    var picker = document.getElementById("var-picker");
    if (!picker) return;
    varButton = button;
    varTarget = document.getElementById(button.dataset.varTarget);
    picker.dataset.bare = button.hasAttribute("data-var-bare") ? "1" : "";
    picker.hidden = false;  // shown first: a hidden element has no offsetParent to measure from
    var box = button.getBoundingClientRect();
    var origin = picker.offsetParent ? picker.offsetParent.getBoundingClientRect() : { top: 0 };
    picker.style.top = (box.bottom - origin.top + 4) + "px";
    var search = document.getElementById("var-search");
    search.value = "";
    filterVariables("");
    search.focus();
  }

  function filterVariables(text) {
    text = text.toLowerCase();
    document.querySelectorAll("#var-picker .var-group").forEach(function (group) {
      var any = false;
      group.querySelectorAll("li").forEach(function (item) {
        var show = !text || item.textContent.toLowerCase().indexOf(text) >= 0;
        item.hidden = !show;
        any = any || show;
      });
      group.hidden = !any;
    });
  }

  function insertVariable(reference) {
    if (!varTarget) return;
    var picker = document.getElementById("var-picker");
    var text = picker && picker.dataset.bare ? reference.replace(/^\{\{\s*|\s*\}\}$/g, "") : reference;
    var start = varTarget.selectionStart == null ? varTarget.value.length : varTarget.selectionStart;
    var end = varTarget.selectionEnd == null ? start : varTarget.selectionEnd;
    var value = varTarget.value;
    // Inside an empty "{{  }}", fill it rather than nesting braces.
    if (/^\{\{\s*\}\}$/.test(value.trim())) { value = ""; start = end = 0; }
    varTarget.value = value.slice(0, start) + text + value.slice(end);
    var caret = start + text.length;
    var target = varTarget;
    closeVarPicker(false);
    target.focus();
    if (target.setSelectionRange) target.setSelectionRange(caret, caret);
    fireChange(target);
  }

  /* --- object pickers (users, groups, devices, …) ------------------------------------------- */

  function pickList(input) { return document.getElementById(input.getAttribute("aria-controls")); }

  function hidePickList(list) {
    if (!list) return;
    list.hidden = true;
    var input = document.querySelector('[aria-controls="' + list.id + '"]');
    if (input) input.setAttribute("aria-expanded", "false");
  }

  function pick(option) {
    var input = document.getElementById(option.dataset.pickTarget);
    if (!input) return;
    input.value = option.dataset.pick;
    hidePickList(pickList(input));
    input.focus();
    fireChange(input);
  }

  /* --- events ------------------------------------------------------------------------------ */

  document.addEventListener("click", function (event) {
    var varBtn = event.target.closest(".var-btn");
    if (varBtn) { event.preventDefault(); openVarPicker(varBtn); return; }
    var item = event.target.closest(".var-item");
    if (item) { event.preventDefault(); insertVariable(item.dataset.insert); return; }
    if (event.target.closest("[data-var-close]")) { closeVarPicker(true); return; }
    var picker = document.getElementById("var-picker");
    if (picker && !picker.hidden && !event.target.closest("#var-picker")) closeVarPicker(false);

    var option = event.target.closest("[data-pick]");
    if (option) { event.preventDefault(); pick(option); return; }

    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var form = remove.closest("form");
      remove.closest("li").remove();
      if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target.id === "var-search") filterVariables(event.target.value);
    var list = event.target.dataset && event.target.dataset.filterList;
    if (list) {
      var text = event.target.value.toLowerCase();
      var container = document.getElementById(list);
      var shown = 0;
      container.querySelectorAll("[data-filter-text]").forEach(function (entry) {
        var show = !text || entry.dataset.filterText.indexOf(text) >= 0;
        entry.hidden = !show;
        if (show) shown += 1;
      });
      container.querySelectorAll("[data-filter-group]").forEach(function (group) {
        group.hidden = !group.querySelector("[data-filter-text]:not([hidden])");
      });
      var empty = container.querySelector("[data-filter-empty]");
      if (empty) empty.hidden = shown > 0;
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.dataset && target.dataset.toggles) {
      var section = document.getElementById(target.dataset.toggles);
      if (section) section.hidden = !target.checked;
    }
    if (target.dataset && target.dataset.shows) {
      var form = target.closest("form");
      form.querySelectorAll("[data-mode-section]").forEach(function (part) {
        part.hidden = part.id !== target.dataset.shows;
      });
    }
    if (target.classList && target.classList.contains("cond-row__op")) {
      var selected = target.options[target.selectedIndex];
      var right = target.closest(".cond-row").querySelector(".cond-row__right");
      if (right) right.hidden = selected.dataset.takesRight !== "1";
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var picker = document.getElementById("var-picker");
    if (picker && !picker.hidden && picker.contains(target)) {
      var items = Array.prototype.filter.call(picker.querySelectorAll(".var-item"), function (b) { return !b.closest("[hidden]"); });
      var at = items.indexOf(target);
      if (event.key === "Escape") { event.preventDefault(); closeVarPicker(true); }
      else if (event.key === "ArrowDown") { event.preventDefault(); (items[at + 1] || items[0]).focus(); }
      else if (event.key === "ArrowUp") { event.preventDefault(); if (at > 0) items[at - 1].focus(); else document.getElementById("var-search").focus(); }
      else if (event.key === "Enter" && target.id === "var-search" && items.length) { event.preventDefault(); insertVariable(items[0].dataset.insert); }
      return;
    }
    if (target.hasAttribute && target.hasAttribute("data-picker")) {
      var list = pickList(target);
      if (event.key === "ArrowDown" && list && !list.hidden) {
        var first = list.querySelector("[data-pick]");
        if (first) { event.preventDefault(); first.focus(); }
      } else if (event.key === "Escape") { hidePickList(list); }
      return;
    }
    if (target.dataset && target.dataset.pick !== undefined) {
      var options = Array.prototype.slice.call(target.closest("ul").querySelectorAll("[data-pick]"));
      var index = options.indexOf(target);
      if (event.key === "ArrowDown") { event.preventDefault(); if (options[index + 1]) options[index + 1].focus(); }
      else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (index > 0) options[index - 1].focus();
        else document.getElementById(target.dataset.pickTarget).focus();
      } else if (event.key === "Escape") {
        event.preventDefault();
        var input = document.getElementById(target.dataset.pickTarget);
        hidePickList(pickList(input));
        input.focus();
      }
    }
    // Enter in a single-line panel field applies it (a change) instead of submitting a button's op.
    if (event.key === "Enter" && target.tagName === "INPUT" && target.type !== "submit" && target.closest("#panel-form")) {
      event.preventDefault();
      fireChange(target);
    }
  });

  document.addEventListener("focusout", function (event) {
    var target = event.target;
    if (!target.closest) return;
    var within = target.closest(".pick-list") || (target.hasAttribute("data-picker") ? target : null);
    if (!within) return;
    setTimeout(function () {
      var active = document.activeElement;
      var list = target.hasAttribute("data-picker") ? pickList(target) : target.closest(".pick-list");
      if (list && !list.contains(active) && active !== document.querySelector('[aria-controls="' + list.id + '"]')) hidePickList(list);
    }, 150);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var list = event.detail.target;
    if (list && list.classList && list.classList.contains("pick-list")) {
      var input = document.querySelector('[aria-controls="' + list.id + '"]');
      var show = document.activeElement === input && list.children.length > 0;
      list.hidden = !show;
      if (input) input.setAttribute("aria-expanded", show ? "true" : "false");
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var source = event.detail.elt;
    if (source && source.hasAttribute && source.hasAttribute("data-close-after") && event.detail.successful) {
      var dialog = source.closest("dialog");
      if (dialog) { dialog.dataset.noRestore = "1"; dialog.close(); }
    }
  });

  document.addEventListener("htmx:beforeOnLoad", function (event) {
    if (event.detail.xhr && event.detail.xhr.getResponseHeader("HX-Redirect")) leaving = true;
  });

  document.addEventListener("keyflow:notice", function (event) {
    if (window.keyflowToast) window.keyflowToast(event.detail.value, "error");
  });

  window.addEventListener("beforeunload", function (event) {
    var bar = document.getElementById("savebar");
    if (!leaving && bar && bar.dataset.unsaved === "true") {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  /* The open panel's card is marked selected (opening a panel does not redraw the canvas). */
  function markSelected() {
    var panel = document.getElementById("panel");
    var id = panel && !panel.hidden ? panel.dataset.card : "";
    document.querySelectorAll(".card--selected").forEach(function (card) {
      if (card.id !== id) card.classList.remove("card--selected");
    });
    var card = id && document.getElementById(id);
    if (card) card.classList.add("card--selected");
  }

  document.addEventListener("htmx:afterSettle", markSelected);
  document.addEventListener("DOMContentLoaded", function () { initSortable(document); });
  document.addEventListener("htmx:load", function (event) { initSortable(event.detail.elt); });
})();
