// The API client of the page: the key (kept in sessionStorage, sent as a Bearer token), JSON and
// multipart calls to /api/v1, the API's error JSON turned into ApiError, and thumbnails (which
// need the key too, so they are fetched and shown from blob: URLs).

const KEY_NAME = "facenet.key";
export const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  toString() {
    return `${this.message} (${this.code}, HTTP ${this.status})`;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY_NAME) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
}

async function errorFrom(response) {
  let code = "http_error";
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, code, message);
}

async function send(method, path, body) {
  const headers = { Authorization: `Bearer ${getKey()}` };
  const init = { method, headers };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${BASE}/${path}`, init);
  } catch (e) {
    throw new ApiError(0, "network_error", `The server could not be reached: ${e.message}`);
  }
  if (!response.ok) {
    const err = await errorFrom(response);
    if (response.status === 401) document.dispatchEvent(new CustomEvent("facenet:unauthorized", { detail: err }));
    throw err;
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.blob();
}

export const api = {
  get: (path) => send("GET", path),
  post: (path, body) => send("POST", path, body),
  patch: (path, body) => send("PATCH", path, body),
  del: (path) => send("DELETE", path),
};

/** A FormData from {field: value | File | File[]}. */
export function form(fields) {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) data.append(name, v);
  }
  return data;
}

/** An <img> whose picture is fetched with the key (thumbnails are not public). */
export function authImage(url, alt) {
  const img = document.createElement("img");
  img.alt = alt;
  img.className = "thumb";
  img.width = 112;
  img.height = 112;
  send("GET", url)
    .then((blob) => {
      img.src = URL.createObjectURL(blob);
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true });
    })
    .catch(() => img.classList.add("thumb-missing"));
  return img;
}

/** URL path segment for a name or id. */
export const seg = (s) => encodeURIComponent(String(s));
