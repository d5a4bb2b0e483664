// Where action dialogs live: above the cards (the app wraps its pages in `ActionDialogs`), so a
// dialog stays open while its own action changes the repository (a commit makes it clean and it
// offers nothing more; a delete removes its card) and shows how it ended.
import { createContext, useCallback, useContext, useState, type ReactNode } from 'react';
import type { ActionName, RepoAction } from '../../lib/actions';
import { ActionDialog } from './ActionDialog';
import { ChangesDialog } from './ChangesDialog';

type OpenAction = (repo: string, action: RepoAction) => void;

const OpenActionContext = createContext<OpenAction | null>(null);

function OpenDialog({ open, onOpen, onClose }: { open: { repo: string; action: RepoAction }; onOpen: OpenAction; onClose: () => void }) {
  // View changes is offered on dirty repositories only, where Commit is offered too.
  if (open.action === 'changes') return <ChangesDialog repo={open.repo} onClose={onClose} onCommit={() => onOpen(open.repo, 'commit')} />;
  return <ActionDialog repo={open.repo} action={open.action as ActionName} onClose={onClose} />;
}

/** Hosts the one open action dialog for everything inside it. */
export function ActionDialogs({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState<{ repo: string; action: RepoAction } | null>(null);
  const openAction = useCallback<OpenAction>((repo, action) => setOpen({ repo, action }), []);
  const close = useCallback(() => setOpen(null), []);
  return (
    <OpenActionContext.Provider value={openAction}>
      {children}
      {open && <OpenDialog open={open} onOpen={openAction} onClose={close} />}
    </OpenActionContext.Provider>
  );
}

/** Opens a dialog in the host; without one (a card rendered on its own), `local` is the dialog to render. */
export function useOpenAction(): { openAction: OpenAction; local: ReactNode } {
  const host = useContext(OpenActionContext);
  const [open, setOpen] = useState<{ repo: string; action: RepoAction } | null>(null);
  const local = useCallback<OpenAction>((repo, action) => setOpen({ repo, action }), []);
  return {
    openAction: host ?? local,
    local: open && !host ? <OpenDialog open={open} onOpen={local} onClose={() => setOpen(null)} /> : null,
  };
}
