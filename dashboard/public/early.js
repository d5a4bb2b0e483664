// Asks for the first snapshot while the app's script is still loading and starting (a separate
// classic script, so it runs as soon as it arrives, before the bundle is evaluated). The app takes
// this answer instead of asking again (lib/liveBrowser.ts). Not on a reload with a saved state:
// the app then resumes from its cursor and needs no snapshot.
(function () {
  try {
    if (window.localStorage.getItem('gitops-live:saved') !== null) return;
  } catch (e) {
    // No storage: nothing is saved either.
  }
  window.__gitopsEarlySnapshot = window.fetch('/api/audit', {
    headers: { Accept: 'application/json' },
    cache: 'no-store',
    credentials: 'same-origin',
  });
  // Not taken (a refused session, a follower tab) is not an error worth a console line.
  window.__gitopsEarlySnapshot.catch(function () {});
})();
