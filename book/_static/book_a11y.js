/* Accessibility fixes for the toolchain's pages (issue 18; loaded by book/_ext/book_a11y.py, checked by
   tests/test_book_a11y_layout.py). Each fix is small and works on the page as the theme leaves it.

   1. Copy buttons (sphinx-copybutton): clipboard.js copies through a temporary text area and removes it, which drops
      the keyboard focus to the top of the page, and "Copied!" is only a tooltip. When a button turns to its
      success state, the focus goes back to it and the message is announced in a polite live region.
   2. Display equations and result tables that are wider than their column scroll sideways in their own box:
      such a box is in the Tab order (keyboard users can scroll it) only while it does scroll, like the theme does
      for code blocks. Formulas are otherwise no Tab stops (_config.yml: MathJax's inTabOrder is false); screen
      readers read them through MathJax's assistive MathML.
   3. Header buttons whose accessible name does not contain their visible text (WCAG 2.5.3, axe
      label-content-name-mismatch): the search button names its keyboard shortcut too; the icons of the colour
      mode button are decoration of its name "Color mode".
*/
(() => {
  "use strict";

  const liveRegion = () => {
    let region = document.getElementById("book-live-status");
    if (!region) {
      region = document.createElement("div");
      region.id = "book-live-status";
      region.className = "visually-hidden";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    return region;
  };

  const announce = (message) => {
    const region = liveRegion();
    region.textContent = "";
    // a fresh text node after a tick, so that the same message twice is announced twice
    setTimeout(() => { region.textContent = message; }, 50);
    setTimeout(() => { if (region.textContent === message) region.textContent = ""; }, 4000);
  };

  const watchCopyButtons = () => {
    const observer = new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        const button = mutation.target;
        if (!button.classList.contains("copybtn") || !button.classList.contains("success")) continue;
        if (mutation.oldValue && mutation.oldValue.includes("success")) continue;  // already handled
        if (document.activeElement === document.body || document.activeElement === null) {
          button.focus({preventScroll: true});
        }
        announce(button.getAttribute("data-tooltip") || "Copied!");
      }
    });
    observer.observe(document.body, {subtree: true, attributes: true, attributeFilter: ["class"],
                                     attributeOldValue: true});
  };

  const SCROLL_BOXES = [".bd-article mjx-container[display='true']", ".bd-article .result-table"].join(", ");

  const updateScrollBoxes = () => {
    document.querySelectorAll(SCROLL_BOXES).forEach((box) => {
      const scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls) {
        box.tabIndex = 0;
        if (box.matches("mjx-container") && !box.hasAttribute("aria-label")) {
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", "equation, scrolls sideways");
        }
      } else if (box.matches("mjx-container")) {
        box.removeAttribute("tabindex");
        if (box.getAttribute("aria-label") === "equation, scrolls sideways") {
          box.removeAttribute("role");
          box.removeAttribute("aria-label");
        }
      } else {
        box.tabIndex = 0;  // result tables: a named region, reachable by keyboard whether or not it scrolls
      }
    });
  };

  const fixHeaderButtons = () => {
    document.querySelectorAll(".search-button-field").forEach((button) => {
      const visible = button.textContent.replace(/\s+/g, " ").replace(/\s*\+\s*/g, "+").trim();
      if (visible) button.setAttribute("aria-label", visible);
    });
    document.querySelectorAll(".theme-switch-button svg, .theme-switch-button i").forEach((icon) => {
      icon.setAttribute("aria-hidden", "true");
      icon.removeAttribute("aria-labelledby");
      icon.removeAttribute("role");
      const title = icon.querySelector("title");
      if (title) title.remove();
    });
  };

  const debounce = (callback, wait) => {
    let timer = null;
    return () => { clearTimeout(timer); timer = setTimeout(callback, wait); };
  };

  const start = () => {
    liveRegion();
    watchCopyButtons();
    fixHeaderButtons();
    // Font Awesome turns <i> icons into <svg> after load: fix the header again when it does
    new MutationObserver(debounce(fixHeaderButtons, 50)).observe(document.body, {subtree: true, childList: true});
    window.addEventListener("resize", debounce(updateScrollBoxes, 100));
    window.addEventListener("load", () => {
      const startup = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
      (startup || Promise.resolve()).then(updateScrollBoxes);
    });
    updateScrollBoxes();
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
