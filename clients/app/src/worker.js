// The app's service worker: keeps the app's own files so it opens with no network after the
// first visit, and syncs with no page open when the browser says the network is back (Background
// Sync) or now and then (Periodic Background Sync, for an installed app). The server's API is
// never cached: the app keeps its data in IndexedDB.
// The build defines __VERSION__ (a hash of the files) and __FILES__.

import { backgroundSync, SYNC_TAG } from "./background.js";

const VERSION = __VERSION__;
const FILES = __FILES__;
const CACHE = `fieldsync-app-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("fieldsync-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  if (event.request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) {
    return;
  }
  // The app's files: from the cache, which the install filled; the network for anything else.
  event.respondWith(
    caches.match(event.request, { ignoreSearch: true }).then((hit) => hit ?? fetch(event.request)),
  );
});

// The browser wakes the worker for these even when no page of the app is open.
for (const type of ["sync", "periodicsync"]) {
  self.addEventListener(type, (event) => {
    if (event.tag === SYNC_TAG) event.waitUntil(backgroundSync(CACHE));
  });
}
