// The one key map of every screen that holds the image viewer (label review, mask review, structure review,
// the study page). Screens declare their keys here; the viewer reads its own from `viewer`, so window/level
// never competes with a screen's bare arrow keys. `describe(screen)` fills the "?" dialog with the map of the
// screen in use.
(function () {
  "use strict";
  const VIEWER = [
    { key: "Shift+ArrowRight", action: "wider", label: "Shift+→", help: "Wider window" },
    { key: "Shift+ArrowLeft", action: "narrower", label: "Shift+←", help: "Narrower window" },
    { key: "Shift+ArrowUp", action: "level-up", label: "Shift+↑", help: "Raise the level" },
    { key: "Shift+ArrowDown", action: "level-down", label: "Shift+↓", help: "Lower the level" },
    { key: "i", action: "invert", label: "i", help: "Invert" },
    { key: "r", action: "reset", label: "r", help: "Reset window/level" },
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
      { key: "Enter", action: "accept", label: "Enter", help: "Accept the masks and load the next item" },
      { key: "f", action: "fix", label: "F", help: "Needs fixing" },
      { key: "x", action: "reject", label: "X", help: "Reject" },
      { key: "s", action: "skip", label: "S", help: "Skip this item" },
      { key: "c", action: "comment", label: "C", help: "Write a comment (Esc to leave it)" },
    ],
    structure: [
      { key: "ArrowUp", action: "previous", label: "↑", help: "Previous statement" },
      { key: "ArrowDown", action: "next", label: "↓", help: "Next statement" },
      { key: "Enter", action: "accept", label: "Enter", help: "Accept and load the next item" },
      { key: "s", action: "skip", label: "S", help: "Skip this item" },
      { key: "c", action: "comment", label: "C", help: "Write a comment (Esc to leave it)" },
    ],
    study: [],
  };
  const HELP = { key: "?", action: "help", label: "?", help: "This list of keys" };

  function name(event) {
    // Single characters are matched case-insensitively ("S" is s); named keys carry their Shift.
    if (event.key.length === 1) return event.key === "?" ? "?" : event.key.toLowerCase();
    return (event.shiftKey ? "Shift+" : "") + event.key;
  }
  function typing(event) {
    const t = event.target;
    return !!t && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName));
  }
  function lookup(list, event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return null;
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
      entries.forEach((entry) => {
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
    add(VIEWER.concat([{ label: "drag", help: "Window (left-right) and level (up-down)" }]), "Image");
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
})();
