// The one key map of every screen that holds the image viewer (label review, mask review, structure review,
// the study page, adjudication). Screens declare their keys here; the viewer reads its own from `viewer`, so window/level
// never competes with a screen's bare arrow keys. `describe(screen)` fills the "?" dialog with the map of the
// screen in use.
(function () {
  "use strict";
  const VIEWER = [
    { key: "Shift+ArrowRight", action: "wider", label: "Shift+→", help: "Wider window" },
    { key: "Shift+ArrowLeft", action: "narrower", label: "Shift+←", help: "Narrower window" },
    { key: "Shift+ArrowUp", action: "level-up", label: "Shift+↑", help: "Raise the level" },
    { key: "Shift+ArrowDown", action: "level-down", label: "Shift+↓", help: "Lower the level" },
    { key: "p", action: "preset", label: "P", help: "Next window preset (the file's own, automatic, full range)" },
    { key: "i", action: "invert", label: "I", help: "Invert" },
    { key: "r", action: "reset", label: "R", help: "Reset window/level and zoom" },
    { key: "+", action: "zoom-in", label: "+", help: "Zoom in" },
    { key: "=", action: "zoom-in", label: "=", help: "Zoom in", hidden: true },
    { key: "-", action: "zoom-out", label: "−", help: "Zoom out" },
    { key: "z", action: "fit", label: "Z", help: "Zoom to fit" },
    { key: "o", action: "one-to-one", label: "O", help: "Zoom 1:1 (one image pixel per screen pixel)" },
    { key: "h", action: "pan-left", label: "H", help: "Pan left" },
    { key: "l", action: "pan-right", label: "L", help: "Pan right" },
    { key: "k", action: "pan-up", label: "K", help: "Pan up" },
    { key: "j", action: "pan-down", label: "J", help: "Pan down" },
    { key: ",", action: "organ-previous", label: ",", help: "Previous organ in the mask legend" },
    { key: ".", action: "organ-next", label: ".", help: "Next organ in the mask legend" },
    { key: "v", action: "organ-toggle", label: "V", help: "Show or hide the selected organ's mask" },
    { key: "m", action: "masks-toggle", label: "M", help: "Show or hide all masks" },
    { key: "u", action: "organ-colour", label: "U", help: "Next colour for the selected organ" },
    { key: "{", action: "opacity-down", label: "{", help: "Selected organ: less opaque" },
    { key: "}", action: "opacity-up", label: "}", help: "Selected organ: more opaque" },
  ];
  // Pointer gestures, listed in the "?" dialog with the keys.
  const GESTURES = [
    { label: "drag", help: "Window (left-right) and level (up-down)" },
    { label: "Space+drag", help: "Pan (or drag with the middle button)" },
    { label: "wheel", help: "Zoom at the pointer" },
  ];
  const SCREENS = {
    label: [
      { key: "1", action: "positive", label: "1", help: "Positive" },
      { key: "2", action: "negative", label: "2", help: "Negative" },
      { key: "3", action: "uncertain", label: "3", help: "Uncertain" },
      { key: "0", action: "not_mentioned", label: "0", help: "Not mentioned" },
      { key: "ArrowUp", action: "previous", label: "↑", help: "Previous finding" },
      { key: "ArrowDown", action: "next", label: "↓", help: "Next finding" },
      { key: "Enter", action: "accept", label: "Enter", help: "Accept and load the next item" },
      { key: "s", action: "skip", label: "S", help: "Skip this item" },
      { key: "c", action: "comment", label: "C", help: "Write a comment (Esc to leave it)" },
    ],
    mask: [
      { key: "Enter", action: "accept", label: "Enter", help: "Accept the masks (or save your correction) and load the next item" },
      { key: "x", action: "reject", label: "X", help: "Reject: pick a reason with its number, Enter to confirm, Esc to cancel" },
      { key: "s", action: "skip", label: "S", help: "Skip this item" },
      { key: "c", action: "comment", label: "C", help: "Write a comment (Esc to leave it)" },
      { key: "b", action: "brush", label: "B", help: "Brush: paint the selected organ" },
      { key: "e", action: "eraser", label: "E", help: "Eraser: remove from the selected organ" },
      { key: "f", action: "fill", label: "F", help: "Fill: click inside a closed outline to fill it" },
      { key: "Escape", action: "no-tool", label: "Esc", help: "Put the tool down (drag sets window/level again)" },
      { key: "[", action: "size-down", label: "[", help: "Smaller brush" },
      { key: "]", action: "size-up", label: "]", help: "Larger brush" },
      { key: "1", action: "organ-1", label: "1–6", help: "Select the organ to edit (as numbered in the list)" },
      { key: "2", action: "organ-2", label: "2", help: "", hidden: true },
      { key: "3", action: "organ-3", label: "3", help: "", hidden: true },
      { key: "4", action: "organ-4", label: "4", help: "", hidden: true },
      { key: "5", action: "organ-5", label: "5", help: "", hidden: true },
      { key: "6", action: "organ-6", label: "6", help: "", hidden: true },
      { key: "Ctrl+z", action: "undo", label: "Ctrl+Z", help: "Undo" },
      { key: "Ctrl+y", action: "redo", label: "Ctrl+Y", help: "Redo" },
    ],
    structure: [
      { key: "ArrowUp", action: "previous", label: "↑", help: "Previous finding" },
      { key: "ArrowDown", action: "next", label: "↓", help: "Next finding" },
      { key: "1", action: "change:new", label: "1", help: "Change: new" },
      { key: "2", action: "change:worsened", label: "2", help: "Change: worsened" },
      { key: "3", action: "change:stable", label: "3", help: "Change: stable" },
      { key: "4", action: "change:improved", label: "4", help: "Change: improved" },
      { key: "5", action: "change:resolved", label: "5", help: "Change: resolved" },
      { key: "0", action: "change:none", label: "0", help: "No change stated" },
      { key: "n", action: "presence", label: "N", help: "Present / absent (negate)" },
      { key: "t", action: "certainty", label: "T", help: "Definite / tentative" },
      { key: "x", action: "reject", label: "X", help: "Reject the finding (again to restore it)" },
      { key: "a", action: "add", label: "A", help: "Add a finding" },
      { key: "b", action: "other-image", label: "B", help: "Show the prior study's image (before) or the current one in the viewer" },
      { key: "Enter", action: "accept", label: "Enter", help: "Accept and load the next item" },
      { key: "s", action: "skip", label: "S", help: "Skip this item" },
      { key: "c", action: "comment", label: "C", help: "Write a comment (Esc to leave it)" },
    ],
    study: [],
  };
  const HELP = { key: "?", action: "help", label: "?", help: "This list of keys" };

  function name(event) {
    // Single characters are matched case-insensitively ("S" is s); named keys carry their Shift. Ctrl (or
    // Cmd) is part of the name, so Ctrl+R still reloads the page instead of resetting the viewer.
    const ctrl = event.ctrlKey || event.metaKey ? "Ctrl+" : "";
    if (event.key.length === 1) return ctrl + (event.key === "?" ? "?" : event.key.toLowerCase());
    return ctrl + (event.shiftKey ? "Shift+" : "") + event.key;
  }
  function typing(event) {
    const t = event.target;
    return !!t && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName));
  }
  function lookup(list, event) {
    if (event.altKey || typing(event)) return null;
    const key = name(event);
    const hit = list.find((entry) => entry.key === key);
    return hit ? hit.action : null;
  }

  function describe(screen) {
    const dl = document.querySelector("#help dl.keys");
    if (!dl) return;
    dl.replaceChildren();
    const add = (entries, heading) => {
      if (heading) {
        const dt = document.createElement("dt");
        dt.className = "keys-heading";
        dt.textContent = heading;
        dl.append(dt, document.createElement("dd"));
      }
      entries.filter((entry) => !entry.hidden).forEach((entry) => {
        const dt = document.createElement("dt");
        const kbd = document.createElement("kbd");
        kbd.textContent = entry.label;
        dt.append(kbd);
        const dd = document.createElement("dd");
        dd.textContent = entry.help;
        dl.append(dt, dd);
      });
    };
    add(SCREENS[screen] || [], "This screen");
    add(VIEWER.concat(GESTURES), "Image");
    add([HELP]);
  }

  window.CxrKeymap = {
    viewer: VIEWER,
    screens: SCREENS,
    /** The viewer's action for a key event, or null. */
    viewerAction: (event) => lookup(VIEWER, event),
    /** The screen's action for a key event, or null. */
    screenAction: (screen, event) => lookup(SCREENS[screen] || [], event),
    describe: describe,
    typing: typing,
  };
  // A page names its screen with data-keymap="…" (the study page); review screens call describe themselves.
  document.addEventListener("DOMContentLoaded", () => {
    const marked = document.querySelector("[data-keymap]");
    if (marked) describe(marked.dataset.keymap);
  });
})();
