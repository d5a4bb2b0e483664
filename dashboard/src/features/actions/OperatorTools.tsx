// The operator's tools over the whole list: "Audit now" and a batch dialog that clones the
// selected missing repositories or fixes the remotes of the selected mismatched ones
// (`POST /api/actions/batch`), with a result per repository. Shown only to a signed-in operator.
import { useMemo, useState } from 'react';
import { CircleAlert, Layers, LoaderCircle, RefreshCw } from 'lucide-react';
import { Dialog } from '../../components/Dialog';
import { useLiveStore } from '../../hooks/useWebSocket';
import { ActionError, type BatchItem, type BatchResult } from '../../lib/actions';
import type { Repo } from '../../types/protocol';
import { errorText } from './ActionDialog';
import { useActionsClient, useCanAct } from './client';

/** The repositories a batch can act on: missing ones (clone) and mismatched ones (fix the remote). */
export function batchCandidates(repos: readonly Repo[]): BatchItem[] {
  const items: BatchItem[] = [];
  const seen = new Set<string>();
  for (const repo of repos) {
    const action = repo.status === 'missing' ? 'clone' : repo.status === 'mismatched' ? 'fix-remote' : null;
    // Repeated names cannot be told apart by the API: the first is offered.
    if (!action || seen.has(`${action}:${repo.name}`)) continue;
    seen.add(`${action}:${repo.name}`);
    items.push({ repo: repo.name, action });
  }
  return items;
}

/** Batches go to the server at most this many items at a time (its limit). */
const BATCH_MAX = 100;

function resultText(result: BatchResult): string {
  if (result.status === 202) return `started (#${result.id ?? '?'})`;
  return result.message ?? result.error ?? `refused (${result.status})`;
}

function BatchDialog({ repos, onClose }: { repos: readonly Repo[]; onClose: () => void }) {
  const client = useActionsClient();
  const store = useLiveStore();
  const actions = useLiveStore((s) => s.actions);
  const candidates = useMemo(() => batchCandidates(repos), [repos]);
  const [selected, setSelected] = useState<ReadonlySet<string>>(() => new Set());
  const [busy, setBusy] = useState(false);
  const [results, setResults] = useState<BatchResult[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const key = (item: BatchItem) => `${item.action}:${item.repo}`;
  const groups: Array<{ action: BatchItem['action']; title: string; run: string }> = [
    { action: 'clone', title: 'Missing', run: 'Clone selected' },
    { action: 'fix-remote', title: 'Remote mismatched', run: 'Fix remotes of selected' },
  ];

  function toggle(item: BatchItem) {
    setSelected((now) => {
      const next = new Set(now);
      if (next.has(key(item))) next.delete(key(item));
      else next.add(key(item));
      return next;
    });
  }

  async function run(action: BatchItem['action']) {
    const items = candidates.filter((c) => c.action === action && selected.has(key(c))).slice(0, BATCH_MAX);
    if (items.length === 0) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await client.batch(items, false);
      setResults((before) => [...(before ?? []), ...answer]);
      setSelected((now) => new Set([...now].filter((k) => !items.some((i) => key(i) === k))));
    } catch (failure) {
      if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog
      title="Act on several repositories"
      onClose={onClose}
      footer={
        <button type="button" className="button" onClick={onClose}>
          Close
        </button>
      }
    >
      {candidates.length === 0 && <p className="empty">No missing or mismatched repository.</p>}
      {groups.map((group) => {
        const items = candidates.filter((c) => c.action === group.action);
        if (items.length === 0) return null;
        const chosen = items.filter((i) => selected.has(key(i))).length;
        return (
          <fieldset key={group.action} className="batch__group">
            <legend>
              {group.title} ({items.length})
            </legend>
            <label className="batch__all">
              <input
                type="checkbox"
                checked={chosen === items.length}
                onChange={(event) =>
                  setSelected((now) => {
                    const next = new Set(now);
                    for (const item of items) {
                      if (event.target.checked) next.add(key(item));
                      else next.delete(key(item));
                    }
                    return next;
                  })
                }
              />
              Select all
            </label>
            <ul className="batch__list">
              {items.map((item) => (
                <li key={key(item)}>
                  <label>
                    <input type="checkbox" checked={selected.has(key(item))} onChange={() => toggle(item)} /> {item.repo}
                  </label>
                </li>
              ))}
            </ul>
            <button type="button" className="button button--primary" disabled={busy || chosen === 0} onClick={() => void run(group.action)}>
              {group.run}
              {chosen > 0 ? ` (${chosen})` : ''}
            </button>
          </fieldset>
        );
      })}
      {error && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} />
          <span>{error}</span>
        </p>
      )}
      {results && (
        <section aria-label="Results" className="batch__results">
          <h3 className="panel__title">Results</h3>
          <ul className="pathlist">
            {results.map((result, index) => {
              const status = result.id !== undefined ? actions[result.id] : undefined;
              return (
                <li key={index} className="pathlist__item" data-status={result.status}>
                  <code>
                    {result.action} {result.repo}
                  </code>
                  <span className={result.status === 202 ? 'pathlist__note' : 'pathlist__note pathlist__note--danger'}>
                    {status ? `${status.state}${status.summary ? `: ${status.summary}` : ''}` : resultText(result)}
                  </span>
                </li>
              );
            })}
          </ul>
        </section>
      )}
    </Dialog>
  );
}

/** "Audit now" and "Several…", for the operator. */
export function OperatorTools() {
  const canAct = useCanAct();
  const client = useActionsClient();
  const store = useLiveStore();
  const report = useLiveStore((s) => s.report);
  const [batchOpen, setBatchOpen] = useState(false);
  const [audit, setAudit] = useState<{ busy: boolean; text: string | null }>({ busy: false, text: null });
  if (!canAct) return null;

  async function auditNow() {
    setAudit({ busy: true, text: null });
    try {
      const answer = await client.auditRun();
      setAudit({ busy: false, text: answer.audit === 'queued' ? 'An audit is running; another follows it.' : 'Audit started.' });
    } catch (failure) {
      if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
      setAudit({ busy: false, text: `Audit not started: ${errorText(failure)}` });
    }
  }

  return (
    <div className="operator-tools" role="group" aria-label="Operator">
      <button type="button" className="button" onClick={() => void auditNow()} disabled={audit.busy}>
        {audit.busy ? <LoaderCircle aria-hidden="true" size={15} className="spin" /> : <RefreshCw aria-hidden="true" size={15} />}
        Audit now
      </button>
      <button type="button" className="button" onClick={() => setBatchOpen(true)}>
        <Layers aria-hidden="true" size={15} />
        Clone / fix several…
      </button>
      {audit.text && (
        <span className="operator-tools__note" role="status">
          {audit.text}
        </span>
      )}
      {batchOpen && <BatchDialog repos={report?.repos ?? []} onClose={() => setBatchOpen(false)} />}
    </div>
  );
}
