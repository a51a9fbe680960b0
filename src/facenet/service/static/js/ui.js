// Small DOM helpers shared by the views: element creation, the error banner, busy buttons,
// drop zones, and faces boxed over a photo.

/** el("button", {class: "x", onclick: f}, "text", child...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") Object.assign(node.style, v); // CSSOM: allowed by the page's CSP
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export function showError(err) {
  const banner = document.getElementById("error");
  banner.textContent = err && err.toString ? err.toString() : String(err);
  banner.hidden = false;
}

export function clearError() {
  const banner = document.getElementById("error");
  banner.hidden = true;
  banner.textContent = "";
}

/** Runs an async action with the button disabled; API errors go to the banner. */
export async function busy(button, action) {
  if (button) button.disabled = true;
  clearError();
  try {
    return await action();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export const fmt = (d) => (d === null || d === undefined || !Number.isFinite(d) ? "–" : Number(d).toFixed(3));

/** Makes `zone` accept dropped files, passing them to `onFiles` (as the file input does). */
export function dropZone(zone, input, onFiles) {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = [...e.dataTransfer.files].filter((f) => f.type.startsWith("image/") || !f.type);
    if (!files.length) return;
    const shown = new DataTransfer(); // the input then names the dropped files too
    files.forEach((f) => shown.items.add(f));
    input.files = shown.files;
    onFiles(files);
  });
  input.addEventListener("change", () => {
    if (input.files.length) onFiles([...input.files]);
  });
}

/**
 * A photo with its faces boxed: absolutely positioned divs placed in percent of the image size,
 * so they follow the image however it is scaled. faces: [{box: [x1, y1, x2, y2], label, num?, cls?}].
 */
export function boxedPhoto(file, width, height, faces, alt) {
  const img = localImage(file, alt);
  const stage = el("div", { class: "stage" }, img);
  const place = (w, h) => {
    faces.forEach((f, i) => {
      const [x1, y1, x2, y2] = f.box;
      const box = el(
        "div",
        { class: `face-box ${f.cls || ""}`, dataset: { face: i }, title: f.label },
        el("span", { class: "face-label" }, f.num ? el("span", { class: "face-num" }, `${f.num}`) : null, f.label),
      );
      box.style.left = `${(100 * x1) / w}%`;
      box.style.top = `${(100 * y1) / h}%`;
      box.style.width = `${(100 * (x2 - x1)) / w}%`;
      box.style.height = `${(100 * (y2 - y1)) / h}%`;
      stage.append(box);
    });
  };
  if (width && height) place(width, height);
  else img.addEventListener("load", () => place(img.naturalWidth, img.naturalHeight), { once: true });
  return stage;
}

/** An <img> of a local File; its blob: URL is released once the picture is decoded. */
export function localImage(file, alt) {
  const img = el("img", { src: URL.createObjectURL(file), alt });
  img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
  return img;
}
