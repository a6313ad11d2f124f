// tnsflow workbench: single-key review on a case page (served from 'self';
// the pages work without it). Keys are ignored while typing in a field.
"use strict";
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  var target = event.target;
  if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
  var byId = function (id) { return document.getElementById(id); };
  var dispositions = { "1": "confirmed_abuse", "2": "no_violation", "3": "needs_more_info", "4": "escalated" };
  var disposition = byId("disposition");
  if (dispositions[event.key] && disposition) {
    disposition.value = dispositions[event.key];
    disposition.dispatchEvent(new Event("change"));
  } else if (event.key === "s" && byId("save-next")) {
    byId("save-next").click();
  } else if (event.key === "n" && byId("next-case")) {
    byId("next-case").click();
  } else if (event.key === "c" && byId("claim")) {
    byId("claim").click();
  } else {
    return;
  }
  event.preventDefault();
});
