// Calls to the API with the page's bearer token; errors become one readable line.

let token = null;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setToken(value) {
  token = value;
}

export function currentToken() {
  return token;
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, problemText(response.status, data));
  return data;
}

/** One line from a problem document (RFC 9457), naming the rejected fields of a 422. */
export function problemText(status, problem) {
  if (status === 401) return "the token was refused: paste a valid one";
  if (problem?.detail) return problem.detail;
  const fields = (problem?.errors ?? []).map((e) => `${e.field}: ${e.detail}`);
  return fields.length ? fields.join("; ") : `HTTP ${status}`;
}
