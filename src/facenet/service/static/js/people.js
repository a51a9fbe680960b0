// People view: a grid of the gallery's subjects with their face thumbnails; add, rename, merge,
// delete a person, and remove one face.
import { api, authImage, seg } from "./api.js";
import { busy, el } from "./ui.js";

let section;

export function init(s) {
  section = s;
  const input = section.querySelector("#person-new");
  section.querySelector("#person-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!name) return;
    const ok = await busy(e.submitter, () => api.post("subjects", { name }));
    if (ok !== undefined) {
      input.value = "";
      await show();
    }
  });
}

export async function show() {
  const grid = section.querySelector("#people-grid");
  const subjects = await busy(null, () => api.get("subjects"));
  if (!subjects) return;
  const names = subjects.map((s) => s.name);
  section.querySelector("#people-count").textContent = `${subjects.length} ${subjects.length === 1 ? "person" : "people"}`;
  grid.replaceChildren(...subjects.map((s, i) => card(s, i, names)));
}

function act(button, action) {
  return busy(button, action).then((r) => (r !== undefined ? show() : undefined));
}

function card(subject, i, names) {
  const renameId = `rename-${i}`;
  const mergeId = `merge-${i}`;
  const renameInput = el("input", { id: renameId, required: true, autocomplete: "off", value: subject.name });
  const others = names.filter((n) => n !== subject.name);
  const mergeSelect = el("select", { id: mergeId }, others.map((n) => el("option", { value: n }, n)));
  const path = `subjects/${seg(subject.name)}`;

  const faces = (subject.faces || []).map((f) =>
    el(
      "figure",
      { class: "face" },
      f.has_thumbnail === false
        ? el("span", { class: "thumb no-thumb", title: "enrolled without a photo crop" }, `face ${f.id}`)
        : authImage(f.thumbnail_url, `a face of ${subject.name}`),
      el("button", { type: "button", class: "small", "aria-label": `remove this face of ${subject.name}`, onclick: (e) => act(e.currentTarget, () => api.del(`${path}/faces/${seg(f.id)}`)) }, "Remove"),
    ),
  );
  const confirmBox = el(
    "p",
    { class: "confirm", hidden: true },
    `Delete ${subject.name} and all ${subject.n_faces} faces? `,
    el("button", { type: "button", class: "danger", onclick: (e) => act(e.currentTarget, () => api.del(path)) }, "Yes, delete"),
    el("button", { type: "button", onclick: () => (confirmBox.hidden = true) }, "Cancel"),
  );
  return el(
    "article",
    { class: "person card", dataset: { name: subject.name } },
    el("h3", { class: "person-name" }, subject.name),
    el("p", { class: "muted" }, `${subject.n_faces} face${subject.n_faces === 1 ? "" : "s"}`),
    el("div", { class: "thumbs" }, faces),
    el(
      "form",
      { class: "inline rename", onsubmit: (e) => (e.preventDefault(), act(e.submitter, () => api.patch(path, { name: renameInput.value.trim() }))) },
      el("label", { for: renameId }, "Rename to"),
      renameInput,
      el("button", { type: "submit" }, "Rename"),
    ),
    others.length
      ? el(
          "form",
          { class: "inline merge", onsubmit: (e) => (e.preventDefault(), act(e.submitter, () => api.post(`${path}/merge`, { into: mergeSelect.value }))) },
          el("label", { for: mergeId }, "Merge into"),
          mergeSelect,
          el("button", { type: "submit" }, "Merge"),
        )
      : null,
    el("button", { type: "button", class: "danger", onclick: () => (confirmBox.hidden = false) }, "Delete…"),
    confirmBox,
  );
}
