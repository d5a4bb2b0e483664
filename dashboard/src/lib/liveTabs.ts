// The live store's side of the tab link (lib/tabLeader.ts). Solo (no link): this tab connects.
// Leader (it holds the lock): it connects, relays every server message to the other tabs before
// applying it, tells them how the connection stands and answers a `hello` with its whole state.
// Follower: it shows what the leader relays, applied by the same rules, and the leader's view of
// the connection; it asks the leader for its state when it joins or misses something.
import type { LeaderView, TabLink, TabMessage, TabMessageBody } from './tabLeader';
import type { Mode } from './livePersistence';
import { parseCursor } from './cursor';
import { MESSAGE_TYPES } from '../types/protocol';
import type { CursorText, Report, ServerMessage } from '../types/protocol';

/** What the tab side needs from the store. */
export interface TabHost {
  started(): boolean;
  signedOut(): boolean;
  /** The state and the connection as this tab has them. */
  state(): { report: Report | null; cursor: CursorText | null; source: 'none' | 'saved' | 'server' };
  view(): LeaderView;
  /** Applies a relayed server message by the client rules. */
  receive(message: ServerMessage): void;
  /** Shows the leader's connection (and takes its server status when it differs from this tab's). */
  showLeader(view: LeaderView): void;
  /** (Re)connects for this tab's role. */
  connect(): void;
  /** A `hello` went out: a gap is not asked about again at once. */
  asked(): void;
  checkSession(): void;
  /** Another tab signed in or out. */
  sessionChanged(signedOutThere: boolean): void;
  /** Another tab chose a mode (the leader then connects for it, a follower shows it). */
  modeChanged(mode: Mode): void;
  /** Something shown changed. */
  changed(): void;
  refreshActionLog(): void;
}

/** This tab's role, and what it says to the others. */
export interface TabSide {
  role(): 'solo' | 'leader' | 'follower';
  /** The connection this tab shows: its own, or (a follower) the leader's as last heard. */
  connectionView<V extends Pick<LeaderView, 'phase' | 'transport' | 'retryAt' | 'failures'>>(
    own: V,
  ): V | Pick<LeaderView, 'phase' | 'transport' | 'retryAt' | 'failures'>;
  start(): void;
  stop(): void;
  /** Leader: sends a server message on, exactly as it came (not pongs nor the server's status). */
  relay(message: ServerMessage): void;
  /** Leader: tells the followers how the connection stands, when that changed. */
  share(): void;
  /** Follower: asks the leader for its state (answered with `state`). */
  askLeader(): void;
  post(message: TabMessageBody): void;
}

/** Makes the tab side; without a link this tab is solo and every call is a no-op. */
export function createTabSide(tabs: TabLink | null, host: TabHost): TabSide {
  let role: 'solo' | 'leader' | 'follower' = tabs ? 'follower' : 'solo';
  let leaderView: LeaderView | null = null;
  let leaderId: string | null = null;
  let viewSent = '';

  function askLeader() {
    host.asked();
    const { report, cursor } = host.state();
    tabs?.post({ kind: 'hello', cursor: report ? cursor : null });
  }

  /** The leader answers a follower's `hello`: its state as an `audit-update` at its cursor. */
  function answerHello(to: string) {
    const { report, cursor: text, source } = host.state();
    const cursor = parseCursor(text);
    const message: ServerMessage | null =
      report && cursor && source === 'server'
        ? { type: MESSAGE_TYPES.auditUpdate, epoch: cursor.epoch, seq: cursor.seq, data: report }
        : null;
    tabs?.post({ kind: 'state', to, message, view: host.view() });
  }

  /** A follower takes the leader's view of the connection. */
  function takeView(view: LeaderView, from: string) {
    const newLeader = from !== leaderId;
    leaderId = from;
    const wasCarrying = leaderView?.transport != null;
    leaderView = view;
    host.showLeader(view);
    // The leader found the session ended: see whether it ended for this tab too.
    if (view.signedOut && !host.signedOut()) host.checkSession();
    // A leader that took over may not have heard this tab's `hello`.
    if (newLeader && host.state().source !== 'server' && !host.signedOut()) askLeader();
    // `action-status` is not replayed: what ended while the leader was cut off is in the log.
    if (!wasCarrying && view.transport !== null) host.refreshActionLog();
  }

  function onMessage(message: TabMessage) {
    if (!host.started()) return;
    switch (message.kind) {
      case 'message':
        if (role === 'follower' && !host.signedOut()) host.receive(message.message);
        return;
      case 'status':
        if (role === 'follower') takeView(message.view, message.from);
        return;
      case 'state':
        if (role !== 'follower' || message.to !== tabs?.id) return;
        takeView(message.view, message.from);
        if (message.message && !host.signedOut()) host.receive(message.message);
        return;
      case 'hello':
        if (role === 'leader') answerHello(message.from);
        return;
      case 'reconnect':
        if (role === 'leader') host.connect();
        return;
      case 'mode':
        host.modeChanged(message.mode);
        if (role === 'leader') host.connect();
        else host.changed();
        return;
      case 'session-changed':
        host.sessionChanged(message.signedOut);
        return;
    }
  }

  /** This tab got the lock: it connects, from its own cursor (the shared one: it applied every relay). */
  function becomeLeader() {
    if (!host.started()) return;
    role = 'leader';
    leaderView = null;
    leaderId = null;
    viewSent = '';
    host.connect();
  }

  return {
    role: () => role,
    connectionView(own) {
      if (role !== 'follower') return own;
      const view = leaderView;
      return {
        phase: view?.phase ?? 'connecting',
        transport: view?.transport ?? null,
        retryAt: view?.retryAt ?? null,
        failures: view?.failures ?? 0,
      };
    },
    start() {
      // The link first, so a follower's `hello` has a channel; the lock is granted later (a
      // callback), and then this tab connects again as the leader.
      tabs?.start({ onLeader: becomeLeader, onMessage });
    },
    stop() {
      tabs?.stop();
      role = tabs ? 'follower' : 'solo';
      leaderView = null;
      leaderId = null;
      viewSent = '';
    },
    relay(message) {
      if (role !== 'leader' || message.type === MESSAGE_TYPES.pong || message.type === MESSAGE_TYPES.connectionStatus) return;
      tabs?.post({ kind: 'message', message });
    },
    share() {
      if (role !== 'leader') return;
      const view = host.view();
      const text = JSON.stringify(view);
      if (text === viewSent) return;
      viewSent = text;
      tabs?.post({ kind: 'status', view });
    },
    askLeader,
    post: (message) => tabs?.post(message),
  };
}
