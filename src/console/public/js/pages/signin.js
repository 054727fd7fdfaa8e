// Sign in with an api token. The token is checked with one public call before it is kept.
import { ApiError, api, session } from '../api.js';
import { field, h } from '../dom.js';

export function render(main, _match, ctx) {
  const input = h('input', { type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'signin-error' }, ctx.message && ctx.message !== 'Signed out.' ? ctx.message : '');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', {
    class: 'signin',
    onSubmit: async (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      button.disabled = true;
      error.textContent = '';
      try {
        await api('GET', '/overview?minutes=1', undefined, token);
        session.signIn(token);
        ctx.signedIn();
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 401
          ? `The api does not know this token (${err.message}). Check it and try again.`
          : `Could not sign in: ${err.message}`;
        input.focus();
        input.select();
      } finally {
        button.disabled = false;
      }
    },
  },
  h('h1', null, 'Sign in'),
  h('p', null, 'Use an api token (one of PAYOUT_API_TOKENS). It stays in this browser tab only and is sent to the public /api/v1 as a bearer token; you see the namespaces it grants.'),
  field('token', 'API token', input),
  error,
  h('div', { class: 'buttons' }, button));
  main.append(form);
  input.focus();
}
