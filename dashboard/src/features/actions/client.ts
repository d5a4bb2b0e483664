// The actions API client the feature uses: the browser's, unless a provider (a test) gives another.
import { createContext, useContext, useMemo } from 'react';
import { useLiveAudit } from '../../hooks/useWebSocket';
import { browserActionsClient, type ActionsClient } from '../../lib/actions';
import { NO_ACTIONS } from '../../lib/session';
import type { OperatorInfo } from '../../types/protocol';

/** The client; null means the browser's own. */
export const ActionsClientContext = createContext<ActionsClient | null>(null);

let browserClient: ActionsClient | null = null;

/** The client to call. */
export function useActionsClient(): ActionsClient {
  const provided = useContext(ActionsClientContext);
  return useMemo(() => provided ?? (browserClient ??= browserActionsClient()), [provided]);
}

/** What the server says about acting: available, why not, signed in. */
export function useOperator(): OperatorInfo {
  const { session } = useLiveAudit();
  return session?.operator ?? NO_ACTIONS;
}

/** Whether this page may show action controls. */
export function useCanAct(): boolean {
  const operator = useOperator();
  return operator.available && operator.signed_in;
}
