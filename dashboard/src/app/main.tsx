// Entry point: one live store for the page, provided to every component, started once.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { LiveStoreContext } from '../hooks/useWebSocket';
import { createBrowserLiveStore } from '../lib/liveBrowser';
import { browserNotificationApi } from '../features/notifications/Notifications';
import './styles.css';

const store = createBrowserLiveStore();
store.start();
window.addEventListener('pagehide', () => store.flush());
// A phone may never send pagehide to a page in the background: keep the state when it is hidden.
document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && store.flush());
// The app shell kept for loads while the server is down (public/sw.js): built pages only, and only
// where the browser allows a worker (https or localhost). Registered well after the first data, in
// an idle moment: only the next visit needs it, and filling it fetches the whole build.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  const register = () => void navigator.serviceWorker.register('/sw.js').catch(() => undefined);
  const later = () => (typeof requestIdleCallback === 'function' ? requestIdleCallback(register, { timeout: 10_000 }) : register());
  window.addEventListener('load', () => setTimeout(later, 3_000));
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <LiveStoreContext.Provider value={store}>
      <App notificationApi={browserNotificationApi()} />
    </LiveStoreContext.Provider>
  </StrictMode>,
);
