// Confirmation before every action, in the page's one <dialog>: it takes the focus, Esc cancels,
// and a decline cannot be confirmed without a reason.
import { h } from './dom.js';

/** Resolves to {reason} when confirmed, undefined when cancelled. */
export function confirmAction({ title, text, confirmLabel, askReason = false, danger = false }) {
  const dialog = document.getElementById('confirm');
  const reason = document.getElementById('confirm-reason');
  const error = document.getElementById('confirm-error');
  const ok = document.getElementById('confirm-ok');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-reason-field').hidden = !askReason;
  reason.value = '';
  reason.required = askReason;
  error.textContent = '';
  ok.textContent = confirmLabel;
  ok.className = danger ? 'danger' : 'primary';
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener('close', onClose);
      const confirmed = dialog.returnValue === 'ok';
      resolve(confirmed ? { reason: reason.value.trim() } : undefined);
    };
    dialog.addEventListener('close', onClose);
    ok.onclick = (e) => {
      if (askReason && !reason.value.trim()) {
        e.preventDefault();
        error.textContent = 'Say why: the reason is kept in the payout\'s history.';
        reason.focus();
      }
    };
    dialog.returnValue = '';
    dialog.showModal();
    (askReason ? reason : ok).focus();
  });
}

/** A result line (role=status) that says what the api answered. */
export function resultLine() {
  const el = h('p', { class: 'result', role: 'status', 'data-testid': 'action-result' });
  return {
    el,
    ok(text) { el.className = 'result ok'; el.textContent = text; },
    bad(text) { el.className = 'result bad'; el.textContent = text; },
  };
}
