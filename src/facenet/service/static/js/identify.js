// Identify view: drop or pick a photo, see every face boxed with its name (or "unknown") and
// distance, and name a face to enrol it (POST /subjects/{name}/faces with the face's box).
import { api, form, seg } from "./api.js";
import { boxedPhoto, busy, dropZone, el, fmt } from "./ui.js";

let current = null; // the File shown now

export function init(section) {
  dropZone(section.querySelector(".drop"), section.querySelector("#identify-file"), (files) => identify(section, files[0]));
}

async function identify(section, file) {
  current = file;
  const status = section.querySelector("#identify-status");
  const result = section.querySelector("#identify-result");
  status.textContent = `Looking for faces in ${file.name}…`;
  result.replaceChildren();
  const out = await busy(null, () => api.post("identify", form({ image: file, k: 3 })));
  if (current !== file) return; // a newer photo was chosen meanwhile
  if (!out) {
    status.textContent = "";
    return;
  }
  const n = out.faces.length;
  status.textContent = `${n} face${n === 1 ? "" : "s"} found in ${file.name} (threshold ${fmt(out.threshold)}).`;
  const faces = out.faces.map((f, i) => ({
    box: f.box,
    num: i + 1,
    label: f.name === null ? `unknown ${fmt(f.distance)}` : `${f.name} ${fmt(f.distance)}`,
    cls: f.name === null ? "unknown" : "known",
  }));
  result.append(
    boxedPhoto(file, out.width, out.height, faces, `faces found in ${file.name}`),
    el("ol", { class: "face-list" }, out.faces.map((f, i) => faceItem(section, file, f, i))),
  );
}

function faceItem(section, file, face, i) {
  const id = `enrol-name-${i}`;
  const input = el("input", { id, name: "name", required: true, autocomplete: "off", value: face.name || "" });
  const button = el("button", { type: "submit" }, "Enrol");
  const candidates = (face.candidates || []).map((c) => `${c.name} ${fmt(c.distance)}`).join(", ");
  const enrol = async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!name) return;
    // The person is created when missing; the box says which face of the photo is meant.
    const ok = await busy(button, () => api.post(`subjects/${seg(name)}/faces`, form({ image: file, box: face.box.join(",") })));
    if (ok) await identify(section, file);
  };
  return el(
    "li",
    { class: "face-item", dataset: { face: i } },
    el("span", { class: "face-name" }, face.name === null ? "unknown" : face.name),
    " ",
    el("span", { class: "face-distance" }, `distance ${fmt(face.distance)}`),
    candidates ? el("span", { class: "candidates" }, ` — nearest: ${candidates}`) : null,
    el("form", { class: "inline", onsubmit: enrol }, el("label", { for: id }, `Name face ${i + 1}`), input, button),
  );
}
