// The page's entry: the API key prompt, the views (#identify, #people, #clusters, #compare) and
// hash navigation between them.
import { api, getKey, setKey } from "./api.js";
import * as clusters from "./clusters.js";
import * as compare from "./compare.js";
import * as identify from "./identify.js";
import * as people from "./people.js";
import { busy, clearError, showError } from "./ui.js";

const VIEWS = { identify, people, clusters, compare };

function keyPanel(show) {
  document.getElementById("key-panel").hidden = !show;
  document.getElementById("app").hidden = show;
  if (show) document.getElementById("key-input").focus();
}

async function useKey(key) {
  setKey(key);
  const models = await busy(document.querySelector("#key-form button"), () => api.get("models"));
  if (!models) {
    setKey("");
    return false;
  }
  document.getElementById("server-info").textContent = describe(models);
  keyPanel(false);
  route();
  return true;
}

function describe(models) {
  const p = models.pipeline || {};
  return [p.detector && `detector ${p.detector}`, p.embedder && `embedder ${p.embedder}`].filter(Boolean).join(" · ");
}

function route() {
  const name = (location.hash || "#identify").slice(1);
  const view = VIEWS[name] ? name : "identify";
  for (const section of document.querySelectorAll("[data-view]")) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.hash === `#${view}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (getKey() && VIEWS[view].show) VIEWS[view].show();
}

function main() {
  for (const [name, view] of Object.entries(VIEWS)) view.init(document.querySelector(`[data-view="${name}"]`));
  document.getElementById("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = document.getElementById("key-input").value.trim();
    if (key) useKey(key);
  });
  document.getElementById("key-forget").addEventListener("click", () => {
    setKey("");
    clearError();
    keyPanel(true);
  });
  document.addEventListener("facenet:unauthorized", (e) => {
    setKey("");
    keyPanel(true);
    showError(e.detail);
  });
  window.addEventListener("hashchange", () => {
    clearError();
    route();
  });
  if (getKey()) useKey(getKey());
  else keyPanel(true);
}

main();
