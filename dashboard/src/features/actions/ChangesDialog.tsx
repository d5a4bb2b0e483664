// The changes of a working tree (View changes), in a wide dialog, with a way on to Commit.
import { useEffect, useState } from 'react';
import { CircleAlert, LoaderCircle } from 'lucide-react';
import { Dialog } from '../../components/Dialog';
import { useLiveStore } from '../../hooks/useWebSocket';
import { ActionError, type Changes } from '../../lib/actions';
import { errorText } from './ActionDialog';
import { useActionsClient } from './client';
import { DiffView } from './DiffView';

/** The changes of a working tree, in a wide dialog. */
export function ChangesDialog({ repo, onClose, onCommit }: { repo: string; onClose: () => void; onCommit?: () => void }) {
  const client = useActionsClient();
  const store = useLiveStore();
  const [changes, setChanges] = useState<Changes | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    client.changes(repo, abort.signal).then(setChanges, (failure: unknown) => {
      if (abort.signal.aborted) return;
      if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
      setError(errorText(failure));
    });
    return () => abort.abort();
  }, [client, store, repo]);
  return (
    <Dialog
      size="wide"
      title={
        <>
          Changes in <span className="dialog__repo">{repo}</span>
        </>
      }
      onClose={onClose}
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            Close
          </button>
          {onCommit && changes && changes.files.length > 0 && (
            <button type="button" className="button button--primary" onClick={onCommit}>
              Commit…
            </button>
          )}
        </>
      }
    >
      {error ? (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} />
          <span>{error}</span>
        </p>
      ) : changes ? (
        <DiffView changes={changes} />
      ) : (
        <p className="action-progress" role="status">
          <LoaderCircle aria-hidden="true" size={16} className="spin" /> Reading the working tree…
        </p>
      )}
    </Dialog>
  );
}
