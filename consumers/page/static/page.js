// The national page's only script: swap <main> in place instead of reloading, and follow the views live.
// Without it every link and form still works (the server renders whole pages).
(() => {
  "use strict";
  const main = document.getElementById("main");
  const poll = Number(document.body.dataset.poll || 3) * 1000;
  let version = document.body.dataset.version;
  let swapping = false;
  document.documentElement.classList.add("js");

  const partUrl = (href) => {
    const url = new URL(href, location.href);
    url.searchParams.set("part", "main");
    return url;
  };

  const focusedKey = () => {
    const el = document.activeElement;
    const keyed = el && el.closest ? el.closest("[data-key]") : null;
    return keyed ? keyed.dataset.key : null;
  };

  async function swap(href, push) {
    const key = focusedKey();
    const res = await fetch(partUrl(href), { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const html = await res.text();
    version = res.headers.get("X-Page-Version") || version;
    document.body.dataset.version = version;
    main.innerHTML = html;
    if (push) history.pushState({}, "", href);
    if (key) {
      const again = main.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    document.dispatchEvent(new CustomEvent("page:swapped", { detail: { version } }));
  }

  const go = (href) => swap(href, true).catch(() => { location.href = href; });

  document.addEventListener("click", (ev) => {
    const link = ev.target.closest ? ev.target.closest("a[data-swap]") : null;
    if (!link || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    go(link.href);
  });

  const formUrl = (form) => {
    const url = new URL(form.action, location.href);
    for (const [name, value] of new FormData(form)) {
      if (value) url.searchParams.set(name, String(value));
    }
    return url.href;
  };
  document.addEventListener("change", (ev) => {
    const form = ev.target.closest ? ev.target.closest("form[data-swap-form]") : null;
    if (form) go(formUrl(form));
  });
  document.addEventListener("submit", (ev) => {
    const form = ev.target.closest ? ev.target.closest("form[data-swap-form]") : null;
    if (!form) return;
    ev.preventDefault();
    go(formUrl(form));
  });
  window.addEventListener("popstate", () => { swap(location.href, false).catch(() => location.reload()); });

  async function follow() {
    if (!document.hidden && !swapping) {
      swapping = true;
      try {
        const res = await fetch("/v1/page/version", { cache: "no-store" });
        if (res.ok) {
          const body = await res.json();
          if (body.version !== version) await swap(location.href, false);
        }
      } catch (err) {
        // the server is away for a moment (a restart): ask again at the next tick
      } finally {
        swapping = false;
      }
    }
    setTimeout(follow, poll);
  }
  setTimeout(follow, poll);
})();
