/* geo-publish service worker: the citizen map keeps working with no connection.
 *
 * The site builder writes this file as <site>/sw.js with two values in front of it:
 *   GP_VERSION  the site's version (published layer versions, page and asset names);
 *   GP_PRECACHE the site-relative files kept at install: the pages, the scripts, styles and icon
 *               font, and the data of the layers whose style says `offline: true`.
 * Pages are fetched from the network first (so a newly published version replaces the kept one
 * as soon as there is a connection) and from the cache when there is none. Files named by
 * version (data, downloads, hashed scripts, vendored packages) are taken from the cache first.
 * Tiles (the API's, or byte ranges of a PMTiles archive) are kept as they are viewed, in a cache
 * bounded to GP_MAX_TILES entries. Every cache is named by the version; a new version's
 * activation deletes the others.
 */
/* global GP_VERSION, GP_PRECACHE, GP_MAX_TILES */
"use strict";

var SITE = "gp-site-" + GP_VERSION;
var TILES = "gp-tiles-" + GP_VERSION;
var NETWORK_WAIT_MS = 6000;  /* a page from the network, unless it takes longer than this */

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SITE).then(function (cache) {
    return cache.addAll(GP_PRECACHE);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("gp-") === 0 && k !== SITE && k !== TILES;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function trim(cache) {  /* oldest entries out first (keys come in insertion order) */
  return cache.keys().then(function (keys) {
    var extra = keys.length - GP_MAX_TILES;
    return Promise.all(keys.slice(0, Math.max(0, extra)).map(function (k) { return cache.delete(k); }));
  });
}

function keep(name, key, response) {
  return caches.open(name).then(function (cache) {
    return cache.put(key, response).then(function () { return name === TILES ? trim(cache) : null; });
  });
}

/* A page: the network's answer (kept), else the kept one (any ?lang=), else the map. */
function page(request) {
  var fromNet = fetch(request).then(function (response) {
    if (response.ok) keep(SITE, request.url.split("?")[0], response.clone());
    return response;
  });
  var timeout = new Promise(function (resolve, reject) {
    setTimeout(function () { reject(new Error("slow network")); }, NETWORK_WAIT_MS);
  });
  return Promise.race([fromNet, timeout]).catch(function () {
    return caches.match(request, {ignoreSearch: true}).then(function (hit) {
      return hit || fromNet;
    });
  });
}

/* A byte range of an archive: kept in the tiles' cache under a key naming the range (in the
   query: the Cache API drops a URL's #fragment, so all ranges would share one entry), answered
   as a 206. */
function range(request, spec) {
  var key = request.url.split("#")[0].split("?")[0] + "?gp-range=" + encodeURIComponent(spec.replace(/\s/g, ""));
  function partial(body, headers) {
    return new Response(body, {status: 206, headers: headers});
  }
  return caches.open(TILES).then(function (cache) { return cache.match(key); }).then(function (hit) {
    if (hit) {
      return hit.arrayBuffer().then(function (body) {
        return partial(body, {"Content-Range": hit.headers.get("X-GP-Content-Range"),
          "Content-Length": String(body.byteLength), "Content-Type": "application/octet-stream",
          "ETag": hit.headers.get("ETag") || ""});
      });
    }
    return fetch(request).then(function (response) {
      if (response.status === 206) {
        var copy = response.clone();
        copy.arrayBuffer().then(function (body) {
          keep(TILES, key, new Response(body, {headers: {
            "X-GP-Content-Range": response.headers.get("Content-Range") || "",
            "ETag": response.headers.get("ETag") || ""}}));
        });
      }
      return response;
    });
  });
}

/* The API's tiles and features: the network's answer (kept), else the kept one. */
function api(request) {
  return fetch(request).then(function (response) {
    if (response.ok && response.status !== 204) keep(TILES, request.url, response.clone());
    else if (response.status === 204) keep(TILES, request.url, new Response(null, {status: 200, headers: {"X-GP-Empty": "1"}}));
    return response;
  }).catch(function (err) {
    return caches.match(request.url).then(function (hit) {
      if (!hit) throw err;
      return hit.headers.get("X-GP-Empty") ? new Response(null, {status: 204}) : hit;
    });
  });
}

/* Anything else of the site: named by version, so the kept copy is the right one (from the
   site's cache only: the tiles' cache holds byte ranges of the same addresses). */
function file(request) {
  return caches.open(SITE).then(function (cache) { return cache.match(request, {ignoreSearch: true}); }).then(function (hit) {
    return hit || fetch(request).then(function (response) {
      if (response.ok && response.status === 200) keep(SITE, request.url.split("?")[0], response.clone());
      return response;
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  var spec = request.headers.get("Range");
  if (spec) { event.respondWith(range(request, spec)); return; }
  /* the index's lists of every layer (search.json, facets.json: not named by version, and
     their freshness changes without a publish): the network's first, asked again of the web
     server (a plain server's Last-Modified let the browser keep a copy for a while) */
  if (/\/(search|facets)\.json$/.test(url.pathname)) {
    event.respondWith(page(new Request(request, {cache: "no-cache"})));
    return;
  }
  if (request.mode === "navigate" || /\.html$/.test(url.pathname) || url.pathname === new URL("./", self.registration.scope).pathname) {
    event.respondWith(page(request));
    return;
  }
  if (url.pathname.indexOf(new URL("./", self.registration.scope).pathname) !== 0) {
    /* beside the site: the live API (tiles, features of tiled layers, report counts) */
    if (/\/tiles\/|\/items/.test(url.pathname)) event.respondWith(api(request));
    return;
  }
  event.respondWith(file(request));
});
