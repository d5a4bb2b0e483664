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
// The app shell kept for loads while the server is down (public/sw.js): built pages only, and only
// where the browser allows a worker (https or localhost); registered once the page has loaded.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  window.addEventListener('load', () => void navigator.serviceWorker.register('/sw.js').catch(() => undefined));
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
