/* Keyflow's page shell behaviour, shared by every page (no build step, no framework):
   - a <dialog data-modal> swapped in by HTMX opens as a modal; closing it removes it and gives
     focus back to the control that opened it;
   - [data-close-dialog] buttons close their dialog;
   - role="tablist" tab buttons switch their panels (arrow keys move between tabs);
   - HTMX errors (403, 500, network) show a toast instead of failing silently. */
(function () {
  "use strict";

  var opener = null;

  function toast(message, kind) {
    var host = document.getElementById("toasts");
    if (!host) return;
    var item = document.createElement("div");
    item.className = "toast" + (kind ? " toast--" + kind : "");
    item.textContent = message;
    host.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }
  window.keyflowToast = toast;

  function openDialogs(root) {
    var dialogs = [];
    if (root.matches && root.matches("dialog[data-modal]")) dialogs.push(root);
    if (root.querySelectorAll) dialogs = dialogs.concat(Array.prototype.slice.call(root.querySelectorAll("dialog[data-modal]")));
    dialogs.forEach(function (dialog) {
      if (dialog.open) return;
      dialog.addEventListener("close", function () {
        if (dialog.hasAttribute("data-keep")) return;
        dialog.remove();
        // A dialog closed because its choice moved on (a card added) leaves focus where that put it.
        if (!dialog.dataset.noRestore && opener && document.body.contains(opener)) opener.focus();
      });
      dialog.showModal();
      var first = dialog.querySelector("[autofocus]");
      if (first) first.focus();
    });
  }

  function setupTabs(root) {
    var lists = root.querySelectorAll ? root.querySelectorAll('[role="tablist"]') : [];
    Array.prototype.forEach.call(lists, function (list) {
      if (list.dataset.ready) return;
      list.dataset.ready = "1";
      var tabs = Array.prototype.slice.call(list.querySelectorAll('[role="tab"]'));
      function select(tab, focus) {
        tabs.forEach(function (other) {
          var on = other === tab;
          other.setAttribute("aria-selected", on ? "true" : "false");
          other.tabIndex = on ? 0 : -1;
          var panel = document.getElementById(other.getAttribute("aria-controls"));
          if (panel) panel.hidden = !on;
        });
        if (focus) tab.focus();
        list.dispatchEvent(new CustomEvent("keyflow:tab", { detail: { tab: tab }, bubbles: true }));
      }
      tabs.forEach(function (tab, index) {
        tab.addEventListener("click", function () { select(tab, false); });
        tab.addEventListener("keydown", function (event) {
          var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
          if (!step) return;
          event.preventDefault();
          select(tabs[(index + step + tabs.length) % tabs.length], true);
        });
      });
    });
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest("[hx-get], [hx-post], button, a");
    if (trigger && !trigger.closest("dialog")) opener = trigger;
    // A <details class="menu"> closes once one of its items is used, or on a click elsewhere.
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target) || event.target.closest(".menu__item")) menu.open = false;
    });
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) dialog.close();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menu = event.target.closest && event.target.closest("details.menu[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    openDialogs(document);
    setupTabs(document);
  });

  document.addEventListener("htmx:load", function (event) {
    openDialogs(event.detail.elt);
    setupTabs(event.detail.elt);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) toast("Your admin role does not allow this.", "error");
    else if (status === 404) toast("That no longer exists. Reload the page.", "error");
    else if (status === 409) toast(event.detail.xhr.responseText || "Someone changed this meanwhile. Reload the page.", "error");
    else toast("Something went wrong (" + status + "). Try again.", "error");
  });

  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Check your connection and try again.", "error");
  });
})();
