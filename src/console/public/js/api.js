// Every call of the console is the public /api/v1 with the signed-in token: no private back door.
// The token lives in this tab's session storage only (gone when the tab closes).
const KEY = 'payout-console-token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (t) => sessionStorage.setItem(KEY, t),
  signOut: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls /api/v1<path>; the api's JSON, or an ApiError with its status and message. */
export async function api(method, path, body, token = session.token()) {
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'the api did not answer (is it running?)');
  }
  let data;
  try {
    data = await res.json();
  } catch {
    data = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, data?.message ?? `the api answered ${res.status}`);
  return data;
}

export const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};
