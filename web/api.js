// api.js: the JSON API from the dashboard, signed in with the session cookie.
// Changes (POST, PUT, DELETE) send the session's CSRF token; the cookie itself
// is HttpOnly and never visible here.

let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch("/api/v1/" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) {
    const e = data && data.error ? data.error : { code: "http_" + r.status, message: r.statusText };
    throw new ApiError(r.status, e.code, e.message);
  }
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body === undefined ? {} : body);

// The session, or null when nobody is signed in.
export async function session() {
  try {
    const s = await get("session");
    csrf = s.csrf_token;
    return s;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function signIn(apiKey) {
  const s = await call("POST", "session", { api_key: apiKey });
  csrf = s.csrf_token;
  return s;
}

export async function signOut() {
  await call("DELETE", "session");
  csrf = null;
}

// GET that answers null for a route this daemon does not have (404 for
// the route itself, as opposed to a missing resource).
export async function optional(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e.status === 404 && e.code === "not_found") return null;
    throw e;
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? "?" + s : "";
}
