// Cluster review view: upload a set of photos as a cluster job, follow its progress, then review
// the clusters as rows of faces: name a cluster (enrols it), merge two, split one in two, move a face out.
import { api, authImage, form, seg } from "./api.js";
import { busy, dropZone, el } from "./ui.js";

let section;
let jobId = null;

export function init(s) {
  section = s;
  dropZone(section.querySelector(".drop"), section.querySelector("#cluster-files"), start);
}

async function start(files) {
  jobId = null;
  section.querySelector("#cluster-rows").replaceChildren();
  const status = section.querySelector("#cluster-status");
  status.textContent = `Uploading ${files.length} photo${files.length === 1 ? "" : "s"}…`;
  const job = await busy(null, () => api.post("cluster/jobs", form({ images: files })));
  if (!job) {
    status.textContent = "";
    return;
  }
  jobId = job.job_id;
  await poll(jobId);
}

async function poll(id) {
  const bar = section.querySelector("#cluster-progress");
  const status = section.querySelector("#cluster-status");
  bar.hidden = false;
  for (;;) {
    const job = await busy(null, () => api.get(`cluster/jobs/${seg(id)}`));
    if (id !== jobId) return; // a newer job replaced this one
    if (!job) return;
    const { done = 0, total = 0 } = job.progress || {};
    bar.max = Math.max(total, 1);
    bar.value = done;
    status.textContent = `Job ${id}: ${job.state}, ${done} of ${total} photos`;
    if (job.state === "done") {
      bar.hidden = true;
      render(job.result);
      return;
    }
    if (job.state === "failed") {
      bar.hidden = true;
      const why = typeof job.error === "string" ? job.error : job.error && job.error.message;
      status.textContent = `Job ${id} failed: ${why || "see the server log"}`;
      return;
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

async function refresh() {
  const job = await busy(null, () => api.get(`cluster/jobs/${seg(jobId)}`));
  if (job && job.result) render(job.result);
}

function act(button, action) {
  return busy(button, action).then((r) => (r !== undefined ? refresh() : undefined));
}

const faceKey = (f) => f.key ?? f.id ?? f.face_key;

function thumb(face, clustered) {
  const key = faceKey(face);
  const photo = String(face.photo || "").split("/").pop();
  return el(
    "figure",
    { class: "face", dataset: { key } },
    face.thumbnail_url ? authImage(face.thumbnail_url, `face from ${photo}`) : el("span", { class: "thumb no-thumb" }, "no crop"),
    el("figcaption", { class: "muted", title: photo }, photo),
    clustered
      ? el("button", { type: "button", class: "small", "aria-label": `move the face from ${photo} out of its cluster`, onclick: (e) => act(e.currentTarget, () => api.post(`cluster/jobs/${seg(jobId)}/faces/${seg(key)}/move-out`)) }, "Move out")
      : null,
  );
}

function render(result) {
  const clusters = result.clusters || [];
  const unclustered = result.unclustered || [];
  const summary = `${clusters.length} cluster${clusters.length === 1 ? "" : "s"}, ${unclustered.length} unclustered face${unclustered.length === 1 ? "" : "s"}`;
  section.querySelector("#cluster-status").textContent = `Job ${jobId}: done. ${summary}.`;
  const check = new Map((result.check_first || []).map((c) => [c.cluster, c.gap]));
  const rows = clusters.map((c) => row(c, clusters, check.get(c.id)));
  if (unclustered.length) {
    rows.push(el("section", { class: "cluster-row unclustered" }, el("h3", {}, "Unclustered"), el("div", { class: "thumbs" }, unclustered.map((f) => thumb(f, false)))));
  }
  const notes = [
    ...(result.failed || []).map((e) => `${e.path}: ${e.error}`),
    ...(result.no_face || []).map((p) => `${typeof p === "string" ? p : p.path}: no face found`),
  ];
  if (notes.length) rows.push(el("ul", { class: "notes muted" }, notes.map((n) => el("li", {}, n))));
  section.querySelector("#cluster-rows").replaceChildren(...rows);
}

function row(cluster, clusters, gap) {
  const cid = cluster.id;
  const nameId = `cluster-name-${cid}`;
  const mergeId = `cluster-merge-${cid}`;
  const nameInput = el("input", { id: nameId, required: true, autocomplete: "off", value: cluster.name || "" });
  const others = clusters.filter((c) => c.id !== cid);
  const mergeSelect = el("select", { id: mergeId }, others.map((c) => el("option", { value: c.id }, c.name ? `${c.id}: ${c.name}` : `cluster ${c.id}`)));
  const base = `cluster/jobs/${seg(jobId)}/clusters/${seg(cid)}`;
  const n = cluster.faces.length;
  return el(
    "section",
    { class: "cluster-row", dataset: { cluster: cid } },
    el(
      "h3",
      {},
      el("span", { class: "cluster-title" }, cluster.name ? cluster.name : `Cluster ${cid}`),
      el("span", { class: "muted" }, ` ${n} face${n === 1 ? "" : "s"}`),
      gap !== undefined ? el("span", { class: "check-first", title: "its faces divide clearly into two groups: two people, or one person seen two ways" }, ` check first: two groups ${gap.toFixed(2)} apart`) : null,
    ),
    el("div", { class: "thumbs" }, cluster.faces.map((f) => thumb(f, true))),
    el(
      "form",
      { class: "inline name", onsubmit: (e) => (e.preventDefault(), act(e.submitter, () => api.post(`${base}/name`, { name: nameInput.value.trim() }))) },
      el("label", { for: nameId }, `Name cluster ${cid}`),
      nameInput,
      el("button", { type: "submit" }, "Name and enrol"),
    ),
    others.length
      ? el(
          "form",
          { class: "inline merge", onsubmit: (e) => (e.preventDefault(), act(e.submitter, () => api.post(`${base}/merge`, { into: Number(mergeSelect.value) }))) },
          el("label", { for: mergeId }, "Merge into"),
          mergeSelect,
          el("button", { type: "submit" }, "Merge"),
        )
      : null,
    n >= 4
      ? el("button", { type: "button", class: "split", "aria-label": `split cluster ${cid} into two people`, onclick: (e) => act(e.currentTarget, () => api.post(`${base}/split`, { min_size: 2 })) }, "Split in two")
      : null,
  );
}
