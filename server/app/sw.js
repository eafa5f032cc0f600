// The app's service worker: keeps the app's own files so it opens with no network after the
// first visit. The server's API is never cached: the app keeps its data in IndexedDB.
// The build writes VERSION (a hash of the files) and FILES below.

const VERSION = "d4acc3b925f5a411";
const FILES = ["./","app.css","app.js","automerge.wasm","icon-192.png","icon-512.png","index.html","manifest.webmanifest"];
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
