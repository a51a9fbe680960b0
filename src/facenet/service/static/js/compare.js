// Compare view: two photos, their faces and the squared L2 distance between them shown against
// the threshold, as in the FaceNet paper's Figure 1 (0 = the same picture, 4 = opposite).
import { api, form } from "./api.js";
import { boxedPhoto, busy, dropZone, el, fmt, localImage } from "./ui.js";

const MAX_DISTANCE = 4; // squared L2 between unit vectors
const files = { a: null, b: null };
let section;

export function init(s) {
  section = s;
  for (const side of ["a", "b"]) {
    dropZone(section.querySelector(`#compare-drop-${side}`), section.querySelector(`#compare-file-${side}`), (f) => {
      files[side] = f[0];
      section.querySelector(`#compare-photo-${side}`).replaceChildren(localImage(f[0], `photo ${side.toUpperCase()}: ${f[0].name}`));
      section.querySelector("#compare-result").replaceChildren();
      if (files.a && files.b) compare();
    });
  }
}

async function compare() {
  const [a, b] = [files.a, files.b];
  const result = section.querySelector("#compare-result");
  result.replaceChildren(el("p", {}, "Comparing…"));
  const out = await busy(null, () => api.post("verify", form({ image_a: a, image_b: b })));
  if (a !== files.a || b !== files.b) return;
  if (!out) {
    result.replaceChildren();
    return;
  }
  section.querySelector("#compare-photo-a").replaceChildren(boxedPhoto(a, out.width_a, out.height_a, out.face_a ? [{ box: out.face_a.box, label: "A" }] : [], `photo A: ${a.name}`));
  section.querySelector("#compare-photo-b").replaceChildren(boxedPhoto(b, out.width_b, out.height_b, out.face_b ? [{ box: out.face_b.box, label: "B" }] : [], `photo B: ${b.name}`));
  const pct = (d) => `${Math.min(100, (100 * d) / MAX_DISTANCE)}%`;
  const scale = el(
    "div",
    { class: "scale", role: "img", "aria-label": `distance ${fmt(out.distance)} on a scale from 0 to 4, threshold ${fmt(out.threshold)}` },
    el("div", { class: "scale-same", style: { width: pct(out.threshold) } }),
    el("div", { class: "scale-threshold", style: { left: pct(out.threshold) }, title: `threshold ${fmt(out.threshold)}` }),
    el("div", { class: `scale-mark ${out.same ? "same" : "different"}`, style: { left: pct(out.distance) } }),
  );
  result.replaceChildren(
    el("p", { class: `verdict ${out.same ? "same" : "different"}`, id: "compare-verdict" }, out.same ? "Same person" : "Different people"),
    el("p", {}, "Distance ", el("strong", { id: "compare-distance" }, fmt(out.distance)), out.same ? " < " : " ≥ ", "threshold ", el("strong", { id: "compare-threshold" }, fmt(out.threshold))),
    scale,
    el("p", { class: "muted scale-legend" }, el("span", {}, "0 (same photo)"), el("span", {}, "4")),
  );
}
