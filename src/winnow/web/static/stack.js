(function () {
  "use strict";
  /* the column pickers offer the chosen table's columns only */
  var table = document.getElementById("stack-table");
  if (!table) { return; }
  function show() {
    document.querySelectorAll("#stack-form select.columns").forEach(function (select) {
      var keep = false;
      select.querySelectorAll("optgroup").forEach(function (group) {
        var mine = group.dataset.table === table.value;
        group.hidden = !mine;
        group.disabled = !mine;
        if (mine && select.selectedOptions.length && select.selectedOptions[0].parentNode === group) { keep = true; }
      });
      if (!keep) {
        var first = select.querySelector('option[value=""]') || select.querySelector("optgroup:not([disabled]) option");
        if (first) { first.selected = true; }
      }
    });
  }
  table.addEventListener("change", show);
  show();
}());
